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
mod steps;
mod watch;

pub use http::{HttpUrl, parse_url};
pub use process::{ProcessConfig, ProcessTarget, Readiness};
pub use steps::{CommandCall, HttpCall, StepFailure, TcpCall};
pub use watch::{PidCell, TargetFds, TargetRss, TargetThreads};

use crate::scenario::{BoxError, Target};

/// The target of a scenario file.
pub struct ServiceTarget {
    name: String,
    kind: TargetKind,
}

enum TargetKind {
    None,
    Address,
    // Boxed: the process variant is large and the others are empty.
    Process(Box<ProcessTarget>),
}

impl ServiceTarget {
    /// No system under test (steps run commands or reach services on their own).
    pub fn none(name: impl Into<String>) -> Self {
        ServiceTarget { name: name.into(), kind: TargetKind::None }
    }

    /// A service that is already running; nothing is started or stopped.
    pub fn address(name: impl Into<String>) -> Self {
        ServiceTarget { name: name.into(), kind: TargetKind::Address }
    }

    /// A process started at setup and stopped at teardown.
    pub fn process(name: impl Into<String>, process: ProcessTarget) -> Self {
        ServiceTarget { name: name.into(), kind: TargetKind::Process(Box::new(process)) }
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
        match &self.kind {
            TargetKind::Process(p) => p.start().await,
            TargetKind::None | TargetKind::Address => Ok(()),
        }
    }

    async fn teardown(&self) -> Result<(), BoxError> {
        match &self.kind {
            TargetKind::Process(p) => p.stop().await,
            TargetKind::None | TargetKind::Address => Ok(()),
        }
    }
}

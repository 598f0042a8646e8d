//! What a chaos point is and what an injector may answer.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The kind of a chaos point: which question the code under test is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointKind {
    /// `maybe_delay`: may the code be slowed down here?
    Delay,
    /// `maybe_panic`: may the code panic here?
    Panic,
    /// `maybe_error`: may the operation fail here?
    Error,
    /// `maybe_cancel`: may the operation be cancelled?
    Cancel,
    /// `maybe_network(host, port)`: may this connection be slowed or dropped?
    Network,
    /// A named failpoint: any action may be injected.
    Failpoint,
}

impl PointKind {
    /// Every kind, in declaration order.
    pub const ALL: [PointKind; 6] = [
        PointKind::Delay,
        PointKind::Panic,
        PointKind::Error,
        PointKind::Cancel,
        PointKind::Network,
        PointKind::Failpoint,
    ];

    /// The lower-case name used in reports and scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            PointKind::Delay => "delay",
            PointKind::Panic => "panic",
            PointKind::Error => "error",
            PointKind::Cancel => "cancel",
            PointKind::Network => "network",
            PointKind::Failpoint => "failpoint",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for PointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of point kinds an injector answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(u8);

impl Capabilities {
    /// Answers nothing (background injectors such as CPU or memory pressure).
    pub const NONE: Capabilities = Capabilities(0);
    /// Answers delay points.
    pub const DELAY: Capabilities = Capabilities(1 << 0);
    /// Answers panic points.
    pub const PANIC: Capabilities = Capabilities(1 << 1);
    /// Answers error points.
    pub const ERROR: Capabilities = Capabilities(1 << 2);
    /// Answers cancellation points.
    pub const CANCEL: Capabilities = Capabilities(1 << 3);
    /// Answers network points.
    pub const NETWORK: Capabilities = Capabilities(1 << 4);
    /// Answers named failpoints.
    pub const FAILPOINT: Capabilities = Capabilities(1 << 5);
    /// Answers every kind.
    pub const ALL: Capabilities = Capabilities(0b11_1111);

    /// The capability that answers `kind`.
    pub const fn of(kind: PointKind) -> Capabilities {
        Capabilities(1 << kind as u8)
    }

    /// Whether this set answers `kind`.
    pub const fn answers(self, kind: PointKind) -> bool {
        self.0 & (1 << kind as u8) != 0
    }

    /// Both sets together.
    pub const fn union(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) const fn bits(self) -> u8 {
        self.0
    }
}

impl std::ops::BitOr for Capabilities {
    type Output = Capabilities;
    fn bitor(self, rhs: Capabilities) -> Capabilities {
        self.union(rhs)
    }
}

/// A chaos point being decided: what is asked, where, and in which iteration.
#[derive(Clone, Copy, Debug)]
pub struct Point<'a> {
    /// Run-wide id of `(kind, name, scope)`; stable for the whole run, so adapters can cache by it.
    pub id: u32,
    /// What is asked.
    pub kind: PointKind,
    /// The site: the step name by default, or the name given at the call (`failpoint("db.write")`).
    pub name: &'a str,
    /// The scope the point runs in, if any.
    pub scope: Option<&'a str>,
    /// The iteration the point belongs to.
    pub iteration: u64,
}

/// A network fault: added latency, and whether the connection should be dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkFault {
    /// Latency added before the connection proceeds.
    #[serde(with = "crate::serde_duration")]
    pub latency: Duration,
    /// Whether the caller should treat the connection as dropped.
    pub drop: bool,
}

impl NetworkFault {
    /// No fault.
    pub const NONE: NetworkFault = NetworkFault { latency: Duration::ZERO, drop: false };

    /// Whether anything is applied.
    pub fn is_none(&self) -> bool {
        self.latency.is_zero() && !self.drop
    }
}

/// What an injector answers at a chaos point: the one representation of a fault, from the
/// decision through the journal (JSON `{"type": "delay", "ns": 5000}` and so on) to the tally.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(into = "wire::Action", from = "wire::Action")]
pub enum Action {
    /// Nothing happens.
    #[default]
    None,
    /// Sleep this long.
    Delay(Duration),
    /// Fail with this message.
    Error(String),
    /// Panic with this message.
    Panic(String),
    /// Cancel the operation's cancellation token.
    Cancel,
    /// Slow or drop a connection.
    Network(NetworkFault),
}

/// Names of the actions that inject something, in tally order ([`Action::slot`]).
pub(crate) const ACTION_NAMES: [&str; 5] = ["delay", "error", "panic", "cancel", "network"];

impl Action {
    /// Whether the action injects nothing.
    pub fn is_none(&self) -> bool {
        match self {
            Action::None => true,
            Action::Delay(d) => d.is_zero(),
            Action::Network(f) => f.is_none(),
            _ => false,
        }
    }

    /// The short name used in reports and counters.
    pub fn name(&self) -> &'static str {
        match self {
            Action::None => "none",
            _ => ACTION_NAMES[self.slot()],
        }
    }

    /// Index into [`ACTION_NAMES`] (`None` shares the delay slot; it is never counted).
    pub(crate) fn slot(&self) -> usize {
        match self {
            Action::None | Action::Delay(_) => 0,
            Action::Error(_) => 1,
            Action::Panic(_) => 2,
            Action::Cancel => 3,
            Action::Network(_) => 4,
        }
    }

    /// How long the action holds the caller (a delay, or a network latency).
    pub fn duration(&self) -> Duration {
        match self {
            Action::Delay(d) => *d,
            Action::Network(f) => f.latency,
            _ => Duration::ZERO,
        }
    }

    /// The same action held for `d` instead (shrinking shortens delays and latencies).
    pub fn with_duration(&self, d: Duration) -> Action {
        match self {
            Action::Delay(_) => Action::Delay(d),
            Action::Network(f) => Action::Network(NetworkFault { latency: d, drop: f.drop }),
            other => other.clone(),
        }
    }
}

impl fmt::Display for Action {
    /// Human form: `delay 12.5ms`, `error "disk full"`, `network +2ms drop`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::None => f.write_str("none"),
            Action::Delay(d) => write!(f, "delay {d:?}"),
            Action::Error(m) => write!(f, "error {m:?}"),
            Action::Panic(m) => write!(f, "panic {m:?}"),
            Action::Cancel => f.write_str("cancel"),
            Action::Network(n) => {
                write!(f, "network")?;
                if !n.latency.is_zero() {
                    write!(f, " +{:?}", n.latency)?;
                }
                if n.drop {
                    f.write_str(" drop")?;
                }
                Ok(())
            }
        }
    }
}

/// The journal's JSON form of an [`Action`] (durations in nanoseconds).
mod wire {
    use std::time::Duration;

    use serde::{Deserialize, Serialize};

    use super::NetworkFault;

    fn nanos(d: Duration) -> u64 {
        d.as_nanos().min(u128::from(u64::MAX)) as u64
    }

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
    pub(super) enum Action {
        None,
        Delay { ns: u64 },
        Error { message: String },
        Panic { message: String },
        Cancel,
        Network { latency_ns: u64, drop: bool },
    }

    impl From<super::Action> for Action {
        fn from(a: super::Action) -> Self {
            match a {
                super::Action::None => Action::None,
                super::Action::Delay(d) => Action::Delay { ns: nanos(d) },
                super::Action::Error(message) => Action::Error { message },
                super::Action::Panic(message) => Action::Panic { message },
                super::Action::Cancel => Action::Cancel,
                super::Action::Network(f) => Action::Network { latency_ns: nanos(f.latency), drop: f.drop },
            }
        }
    }

    impl From<Action> for super::Action {
        fn from(a: Action) -> Self {
            match a {
                Action::None => super::Action::None,
                Action::Delay { ns } => super::Action::Delay(Duration::from_nanos(ns)),
                Action::Error { message } => super::Action::Error(message),
                Action::Panic { message } => super::Action::Panic(message),
                Action::Cancel => super::Action::Cancel,
                Action::Network { latency_ns, drop } => {
                    super::Action::Network(NetworkFault { latency: Duration::from_nanos(latency_ns), drop })
                }
            }
        }
    }
}

/// The error a step sees when chaos makes an operation fail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("chaos: {message}")]
pub struct ChaosError {
    /// What the injector said.
    pub message: String,
}

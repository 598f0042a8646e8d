//! Network faults through a chaos proxy: a toxic (latency, bandwidth, timeout, slicer, reset,
//! limit) or the proxy taken down, on a named proxy of an in-process registry or of any
//! Toxiproxy-compatible server, for the whole run or per iteration, with a probability.

use std::sync::Mutex;

use super::{AsyncHooks, HookFuture, InjectError, Injector, StartContext, check_probability};
use crate::chaos::{Action, Capabilities, Draws, NetworkFault, Point};
use crate::proxy::{Client, ProxyRegistry, ProxyUpdate, Stream, Toxic, ToxicKind};

/// Where the proxy lives.
#[derive(Clone, Debug)]
pub enum ProxyEndpoint {
    /// A registry running in this process.
    Local(ProxyRegistry),
    /// A Toxiproxy-compatible server (ours or Shopify's) reached over HTTP.
    Remote(Client),
}

impl From<ProxyRegistry> for ProxyEndpoint {
    fn from(r: ProxyRegistry) -> Self {
        ProxyEndpoint::Local(r)
    }
}

impl From<Client> for ProxyEndpoint {
    fn from(c: Client) -> Self {
        ProxyEndpoint::Remote(c)
    }
}

#[derive(Clone, Debug)]
enum Fault {
    Toxic(Stream, ToxicKind),
    Down,
}

/// A fault applied to a proxy: see [`proxy_toxic`] and [`proxy_down`].
#[derive(Debug)]
pub struct ProxyFault {
    endpoint: ProxyEndpoint,
    proxy: String,
    fault: Fault,
    p: f64,
    toxicity: f32,
    per_iteration: bool,
    toxic_name: Mutex<String>,
    /// Whole run: whether the fault is applied. Per iteration: iterations in flight that fired
    /// (the fault stays while any of them runs).
    state: tokio::sync::Mutex<(bool, usize)>,
}

/// Adds a toxic (Toxiproxy's types and units) to `proxy` on `stream`, named
/// `chaoskit-<label>`; removed at stop, also after failures.
pub fn proxy_toxic(
    endpoint: impl Into<ProxyEndpoint>,
    proxy: impl Into<String>,
    stream: Stream,
    kind: ToxicKind,
) -> ProxyFault {
    ProxyFault::new(endpoint.into(), proxy.into(), Fault::Toxic(stream, kind))
}

/// Takes `proxy` down (disabled: its listener and connections close); re-enabled at stop.
pub fn proxy_down(endpoint: impl Into<ProxyEndpoint>, proxy: impl Into<String>) -> ProxyFault {
    ProxyFault::new(endpoint.into(), proxy.into(), Fault::Down)
}

impl ProxyFault {
    fn new(endpoint: ProxyEndpoint, proxy: String, fault: Fault) -> Self {
        ProxyFault {
            endpoint,
            proxy,
            fault,
            p: 1.0,
            toxicity: 1.0,
            per_iteration: false,
            toxic_name: Mutex::new("chaoskit".into()),
            state: tokio::sync::Mutex::new((false, 0)),
        }
    }

    /// Probability the fault applies (to the run, or to each iteration). Default 1.
    pub fn probability(mut self, p: f64) -> Self {
        self.p = p;
        self
    }

    /// Share of connections a toxic affects once applied (Toxiproxy's `toxicity`), drawn per
    /// connection from the proxy's seeded streams. Default 1.
    pub fn toxicity(mut self, toxicity: f32) -> Self {
        self.toxicity = toxicity;
        self
    }

    /// Decide and apply the fault per iteration instead of for the whole run. Concurrent
    /// iterations share the proxy: the fault stays while any iteration that drew it runs.
    pub fn per_iteration(mut self) -> Self {
        self.per_iteration = true;
        self
    }

    fn name(&self) -> String {
        self.toxic_name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn apply(&self) -> Result<(), InjectError> {
        let failed = |e: String| InjectError::Failed(format!("cannot apply fault to proxy `{}`: {e}", self.proxy));
        match (&self.fault, &self.endpoint) {
            (Fault::Toxic(stream, kind), ProxyEndpoint::Local(r)) => r
                .add_toxic(&self.proxy, Toxic::new(self.name(), *stream, kind.clone()).with_toxicity(self.toxicity))
                .await
                .map(drop)
                .map_err(|e| failed(e.to_string())),
            (Fault::Toxic(stream, kind), ProxyEndpoint::Remote(c)) => c
                .add_toxic(&self.proxy, &Toxic::new(self.name(), *stream, kind.clone()).with_toxicity(self.toxicity))
                .await
                .map(drop)
                .map_err(|e| failed(e.to_string())),
            (Fault::Down, ProxyEndpoint::Local(r)) => r
                .update(&self.proxy, ProxyUpdate::new().enabled(false))
                .await
                .map(drop)
                .map_err(|e| failed(e.to_string())),
            (Fault::Down, ProxyEndpoint::Remote(c)) => {
                c.disable(&self.proxy).await.map(drop).map_err(|e| failed(e.to_string()))
            }
        }
    }

    async fn remove(&self) -> Result<(), InjectError> {
        let failed = |e: String| InjectError::Failed(format!("cannot remove fault from proxy `{}`: {e}", self.proxy));
        match (&self.fault, &self.endpoint) {
            (Fault::Toxic(..), ProxyEndpoint::Local(r)) => {
                r.remove_toxic(&self.proxy, &self.name()).await.map_err(|e| failed(e.to_string()))
            }
            (Fault::Toxic(..), ProxyEndpoint::Remote(c)) => {
                c.remove_toxic(&self.proxy, &self.name()).await.map_err(|e| failed(e.to_string()))
            }
            (Fault::Down, ProxyEndpoint::Local(r)) => r
                .update(&self.proxy, ProxyUpdate::new().enabled(true))
                .await
                .map(drop)
                .map_err(|e| failed(e.to_string())),
            (Fault::Down, ProxyEndpoint::Remote(c)) => {
                c.enable(&self.proxy).await.map(drop).map_err(|e| failed(e.to_string()))
            }
        }
    }

    /// What the journal records when the fault fires: the added latency for a latency toxic,
    /// a drop for faults that break connections.
    fn as_action(&self) -> Action {
        Action::Network(match &self.fault {
            Fault::Toxic(_, kind) => kind.as_fault(),
            Fault::Down => NetworkFault { latency: std::time::Duration::ZERO, drop: true },
        })
    }
}

impl Injector for ProxyFault {
    /// Answers no chaos point of the code under test: it acts on the proxy.
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    fn start(&self, ctx: &StartContext<'_>) -> Result<(), InjectError> {
        *self.toxic_name.lock().unwrap_or_else(|e| e.into_inner()) = format!("chaoskit-{}", ctx.label);
        Ok(())
    }

    /// Decides the `run` or `iteration` point; any fault kind fires as a network action so the
    /// journal records it (a bandwidth or slicer toxic shows as a network action without
    /// latency or drop).
    fn decide(&self, _point: &Point<'_>, draws: &mut Draws<'_>) -> Action {
        if draws.chance(self.p) { self.as_action() } else { Action::None }
    }

    fn validate_config(&self) -> Result<(), String> {
        check_probability(self.p)?;
        check_probability(f64::from(self.toxicity)).map_err(|e| format!("toxicity: {e}"))?;
        // A plugin toxic's type and attributes are checked by the proxy's plugin when it is added.
        if let Fault::Toxic(_, kind) = &self.fault
            && !matches!(kind, crate::proxy::ToxicKind::Other { .. })
        {
            kind.validate().map_err(|e| format!("proxy `{}`: {e}", self.proxy))?;
        }
        Ok(())
    }

    fn hooks(&self) -> Option<&dyn AsyncHooks> {
        Some(self)
    }
}

impl AsyncHooks for ProxyFault {
    fn start_async<'a>(&'a self, _ctx: StartContext<'a>) -> HookFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    fn enter_run(&self) -> HookFuture<'_> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            if !state.0 {
                self.apply().await?;
                state.0 = true;
            }
            Ok(())
        })
    }

    fn stop_async(&self) -> HookFuture<'_> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            if state.0 || state.1 > 0 {
                *state = (false, 0);
                self.remove().await?;
            }
            Ok(())
        })
    }

    fn per_iteration(&self) -> bool {
        self.per_iteration
    }

    fn enter_iteration(&self, _iteration: u64) -> HookFuture<'_> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            if state.1 == 0 {
                self.apply().await?;
            }
            state.1 += 1;
            Ok(())
        })
    }

    fn leave_iteration(&self, _iteration: u64) -> HookFuture<'_> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            state.1 = state.1.saturating_sub(1);
            if state.1 == 0 {
                self.remove().await?;
            }
            Ok(())
        })
    }
}

//! An injector's exports under either contract version, behind one interface.
//!
//! - 0.2.0: `decide` returns numbers only; an error or panic names its message by id and the
//!   text comes from the `message` export, kept per instance for stable ids.
//! - 0.1.0 (`wit/compat/0.1.0`): `decide` returns the message as a string.

use super::super::bindings::chaoskit::plugin::types as wit;
use super::super::bindings::v0_1::chaoskit::plugin::types as wit_v0_1;
use super::super::bindings::v0_1::{Injector as V0_1, InjectorPre as V0_1Pre};
use super::super::bindings::{Injector as Current, InjectorPre as CurrentPre};
use super::super::state::PluginState;
use crate::chaos::{Capabilities as Actions, PointKind};
use std::collections::HashMap;
use wasmtime::Store;
use wasmtime::component::InstancePre;

/// Ids from here up name one-off messages (fetched each time, never kept).
const ONE_OFF: u32 = 1 << 31;
/// Most bytes of message text one instance keeps; later stable messages are fetched each time.
const MAX_KEPT: usize = 64 * 1024;

/// The pre-linked injector, of whichever contract version its exports match.
pub(crate) enum ExportsPre {
    Current(CurrentPre<PluginState>),
    V0_1(V0_1Pre<PluginState>),
}

impl ExportsPre {
    /// Type-check `pre` against 0.2.0's injector, then 0.1.0's; if neither matches, the error
    /// is 0.2.0's.
    pub(crate) fn new(pre: InstancePre<PluginState>) -> wasmtime::Result<Self> {
        match CurrentPre::new(pre.clone()) {
            Ok(current) => Ok(Self::Current(current)),
            Err(error) => V0_1Pre::new(pre).map(Self::V0_1).map_err(|_| error),
        }
    }

    pub(crate) fn instantiate(&self, store: &mut Store<PluginState>) -> wasmtime::Result<Exports> {
        let world = match self {
            Self::Current(pre) => World::Current(pre.instantiate(store)?),
            Self::V0_1(pre) => World::V0_1(pre.instantiate(store)?),
        };
        Ok(Exports { world, kept: HashMap::new(), kept_bytes: 0 })
    }
}

enum World {
    Current(Current),
    V0_1(V0_1),
}

/// One instance's exports, and the message texts it has told the host.
pub(crate) struct Exports {
    world: World,
    kept: HashMap<u32, String>,
    kept_bytes: usize,
}

/// The message of an error or panic action, as `decide` gave it.
pub(crate) enum Text {
    /// 0.2.0: fetch it with [`Exports::message`].
    Id(u32),
    /// 0.1.0: the string itself.
    Given(String),
}

/// What `decide` returned.
pub(crate) enum Decided {
    None,
    DelayNs(u64),
    Error(Text),
    Panic(Text),
    Cancel,
}

impl Exports {
    /// `configure`: the point kinds the injector answers, or its refusal.
    pub(crate) fn configure(
        &self,
        store: &mut Store<PluginState>,
        config: &str,
    ) -> wasmtime::Result<Result<Actions, String>> {
        Ok(match &self.world {
            World::Current(w) => w.call_configure(store, config)?.map(|info| {
                let c = info.capabilities;
                actions([
                    c.contains(wit::Capabilities::DELAY),
                    c.contains(wit::Capabilities::PANIC),
                    c.contains(wit::Capabilities::ERROR),
                    c.contains(wit::Capabilities::CANCEL),
                    c.contains(wit::Capabilities::NETWORK),
                    c.contains(wit::Capabilities::FAILPOINT),
                ])
            }),
            World::V0_1(w) => w.call_configure(store, config)?.map(|info| {
                let c = info.capabilities;
                actions([
                    c.contains(wit_v0_1::Capabilities::DELAY),
                    c.contains(wit_v0_1::Capabilities::PANIC),
                    c.contains(wit_v0_1::Capabilities::ERROR),
                    c.contains(wit_v0_1::Capabilities::CANCEL),
                    c.contains(wit_v0_1::Capabilities::NETWORK),
                    c.contains(wit_v0_1::Capabilities::FAILPOINT),
                ])
            }),
        })
    }

    /// `register-point`: whether the injector wants to be asked about the point.
    pub(crate) fn register_point(
        &self,
        store: &mut Store<PluginState>,
        id: u32,
        kind: PointKind,
        name: &str,
        scope: Option<&str>,
    ) -> wasmtime::Result<bool> {
        let (name, scope) = (name.to_owned(), scope.map(str::to_owned));
        match &self.world {
            World::Current(w) => {
                let kind = match kind {
                    PointKind::Delay => wit::PointKind::Delay,
                    PointKind::Panic => wit::PointKind::Panic,
                    PointKind::Error => wit::PointKind::Error,
                    PointKind::Cancel => wit::PointKind::Cancel,
                    PointKind::Network => wit::PointKind::Network,
                    PointKind::Failpoint => wit::PointKind::Failpoint,
                };
                w.call_register_point(store, id, &wit::Point { kind, name, scope })
            }
            World::V0_1(w) => {
                let kind = match kind {
                    PointKind::Delay => wit_v0_1::PointKind::Delay,
                    PointKind::Panic => wit_v0_1::PointKind::Panic,
                    PointKind::Error => wit_v0_1::PointKind::Error,
                    PointKind::Cancel => wit_v0_1::PointKind::Cancel,
                    PointKind::Network => wit_v0_1::PointKind::Network,
                    PointKind::Failpoint => wit_v0_1::PointKind::Failpoint,
                };
                w.call_register_point(store, id, &wit_v0_1::Point { kind, name, scope })
            }
        }
    }

    /// `decide` (the hot path).
    pub(crate) fn decide(&self, store: &mut Store<PluginState>, id: u32, iteration: u64) -> wasmtime::Result<Decided> {
        Ok(match &self.world {
            World::Current(w) => match w.call_decide(store, id, iteration)? {
                wit::Action::None => Decided::None,
                wit::Action::DelayNs(ns) => Decided::DelayNs(ns),
                wit::Action::Error(m) => Decided::Error(Text::Id(m)),
                wit::Action::Panic(m) => Decided::Panic(Text::Id(m)),
                wit::Action::Cancel => Decided::Cancel,
            },
            World::V0_1(w) => match w.call_decide(store, id, iteration)? {
                wit_v0_1::Action::None => Decided::None,
                wit_v0_1::Action::DelayNs(ns) => Decided::DelayNs(ns),
                wit_v0_1::Action::Error(m) => Decided::Error(Text::Given(m)),
                wit_v0_1::Action::Panic(m) => Decided::Panic(Text::Given(m)),
                wit_v0_1::Action::Cancel => Decided::Cancel,
            },
        })
    }

    /// The text of message `id`: kept from an earlier call, or asked of the instance with
    /// `fetch` (which arms the call and checks the size) and kept when the id is stable and
    /// the instance's share of kept text allows.
    pub(crate) fn message<E>(
        &mut self,
        store: &mut Store<PluginState>,
        id: u32,
        fetch: impl FnOnce(&mut Store<PluginState>, &Current, u32) -> Result<String, E>,
    ) -> Result<String, E> {
        if let Some(text) = self.kept.get(&id) {
            return Ok(text.clone());
        }
        let World::Current(w) = &self.world else {
            return Ok(String::new());
        };
        let text = fetch(store, w, id)?;
        if id < ONE_OFF && self.kept_bytes + text.len() <= MAX_KEPT {
            self.kept_bytes += text.len();
            self.kept.insert(id, text.clone());
        }
        Ok(text)
    }
}

fn actions(flags: [bool; 6]) -> Actions {
    let all = [Actions::DELAY, Actions::PANIC, Actions::ERROR, Actions::CANCEL, Actions::NETWORK, Actions::FAILPOINT];
    flags.iter().zip(all).filter(|(on, _)| **on).fold(Actions::NONE, |caps, (_, cap)| caps | cap)
}

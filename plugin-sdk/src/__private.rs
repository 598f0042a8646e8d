//! Glue between the public traits and the wit-bindgen bindings. Not a stable API.
#![allow(unsafe_code, reason = "wit-bindgen generated glue is unsafe by nature")]
#![allow(missing_docs, reason = "generated bindings")]

use crate::{
    Action, ConnectionInfo, Counting, Direction, Event, Injector, Outcome, Point, Severity, Step, Toxic, Validator,
};
use std::cell::RefCell;
use std::time::Duration;

pub use wit_bindgen;

/// Bindings of the `injector` world.
pub mod injector_bindings {
    wit_bindgen::generate!({
        world: "injector",
        path: "wit",
        runtime_path: "crate::__private::wit_bindgen::rt",
        pub_export_macro: true,
        export_macro_name: "__export_injector",
        default_bindings_module: "$crate::__private::injector_bindings",
    });
}

/// Bindings of the `validator` world (host imports shared with the injector bindings).
pub mod validator_bindings {
    wit_bindgen::generate!({
        world: "validator",
        path: "wit",
        runtime_path: "crate::__private::wit_bindgen::rt",
        pub_export_macro: true,
        export_macro_name: "__export_validator",
        default_bindings_module: "$crate::__private::validator_bindings",
        with: {
            "chaoskit:plugin/host@0.2.0": crate::__private::injector_bindings::chaoskit::plugin::host,
        },
        generate_unused_types: true,
    });
}

/// Bindings of the `toxic` world (host imports shared with the injector bindings).
pub mod toxic_bindings {
    wit_bindgen::generate!({
        world: "toxic",
        path: "../wit",
        runtime_path: "crate::__private::wit_bindgen::rt",
        pub_export_macro: true,
        export_macro_name: "__export_toxic",
        default_bindings_module: "$crate::__private::toxic_bindings",
        with: {
            "chaoskit:plugin/host@0.2.0": crate::__private::injector_bindings::chaoskit::plugin::host,
        },
    });
}

use injector_bindings::chaoskit::plugin::host;
use injector_bindings::chaoskit::plugin::types as itypes;
use validator_bindings::chaoskit::plugin::types as vtypes;

pub use itypes::{Capabilities, LogLevel, PointKind};

impl From<PointKind> for Capabilities {
    fn from(kind: PointKind) -> Self {
        match kind {
            PointKind::Delay => Capabilities::DELAY,
            PointKind::Panic => Capabilities::PANIC,
            PointKind::Error => Capabilities::ERROR,
            PointKind::Cancel => Capabilities::CANCEL,
            PointKind::Network => Capabilities::NETWORK,
            PointKind::Failpoint => Capabilities::FAILPOINT,
        }
    }
}

pub fn host_random_u64() -> u64 {
    host::random_u64()
}
pub fn host_now_ns() -> u64 {
    host::now_ns()
}
pub fn host_log(level: LogLevel, message: &str) {
    host::log(level, message)
}
pub fn host_counter(name: &str) -> u32 {
    host::counter(name)
}
pub fn host_counter_add(id: u32, delta: i64) -> i64 {
    host::counter_add(id, delta)
}

/// Per-instance guest state. Wasm instances are single-threaded, so a thread-local `RefCell` is
/// the whole synchronisation story.
struct InjectorState<T> {
    plugin: T,
    points: Vec<Option<Point>>,
}

thread_local! {
    static INJECTOR: RefCell<Option<Box<dyn std::any::Any>>> = const { RefCell::new(None) };
    static VALIDATOR: RefCell<Option<Box<dyn std::any::Any>>> = const { RefCell::new(None) };
    static TOXIC: RefCell<Option<Box<dyn std::any::Any>>> = const { RefCell::new(None) };
    static MESSAGES: RefCell<Messages> = const { RefCell::new(Messages { ids: std::collections::BTreeMap::new(), texts: Vec::new(), one_off: None, next_one_off: 0 }) };
}

fn with_injector<T: Injector, R>(f: impl FnOnce(&mut InjectorState<T>) -> R) -> Option<R> {
    INJECTOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        slot.as_mut().and_then(|b| b.downcast_mut::<InjectorState<T>>()).map(f)
    })
}

pub fn injector_configure<T: Injector>(config: &str) -> Result<itypes::InjectorInfo, String> {
    let plugin = T::new(crate::parse_config(config)?)?;
    let capabilities = plugin.capabilities();
    INJECTOR.with(|cell| *cell.borrow_mut() = Some(Box::new(InjectorState::<T> { plugin, points: Vec::new() })));
    Ok(itypes::InjectorInfo { capabilities })
}

pub fn injector_register_point<T: Injector>(id: u32, point: itypes::Point) -> bool {
    let point = Point { id, kind: point.kind, name: point.name, scope: point.scope };
    with_injector::<T, _>(|state| {
        let wants = state.plugin.wants(&point);
        let index = id as usize;
        if state.points.len() <= index {
            state.points.resize(index + 1, None);
        }
        state.points[index] = Some(point);
        wants
    })
    .unwrap_or(false)
}

pub fn injector_decide<T: Injector>(id: u32, iteration: u64) -> itypes::Action {
    let action = with_injector::<T, _>(|state| {
        let InjectorState { plugin, points } = state;
        match points.get(id as usize) {
            Some(Some(point)) => plugin.decide(point, iteration),
            _ => Action::None,
        }
    })
    .unwrap_or_default();
    match action {
        Action::None => itypes::Action::None,
        Action::Delay(d) => itypes::Action::DelayNs(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        Action::Error(m) => itypes::Action::Error(MESSAGES.with(|ms| ms.borrow_mut().id(m))),
        Action::Panic(m) => itypes::Action::Panic(MESSAGES.with(|ms| ms.borrow_mut().id(m))),
        Action::Cancel => itypes::Action::Cancel,
    }
}

pub fn injector_message(id: u32) -> String {
    MESSAGES.with(|ms| ms.borrow_mut().text(id))
}

/// The messages of error and panic actions, by id (the contract's `message-id`): the first
/// [`MAX_STABLE`] distinct texts get stable ids, which the host fetches once and keeps; any
/// other text gets a one-off id and is kept only until the host fetches it.
///
/// A `BTreeMap`, not a `HashMap`: std's hasher seeds itself from `wasi:random`, an import that
/// would move every plugin off the host's lean linker.
#[derive(Default)]
struct Messages {
    ids: std::collections::BTreeMap<String, u32>,
    texts: Vec<String>,
    one_off: Option<(u32, String)>,
    next_one_off: u32,
}

/// Distinct texts that get stable ids (bounds the guest memory they keep).
const MAX_STABLE: usize = 1024;
/// One-off ids start here.
const ONE_OFF: u32 = 1 << 31;

impl Messages {
    fn id(&mut self, text: String) -> u32 {
        if let Some(&id) = self.ids.get(&text) {
            return id;
        }
        if self.texts.len() < MAX_STABLE {
            let id = self.texts.len() as u32;
            self.texts.push(text.clone());
            self.ids.insert(text, id);
            return id;
        }
        let id = ONE_OFF | (self.next_one_off & !ONE_OFF);
        self.next_one_off = self.next_one_off.wrapping_add(1);
        self.one_off = Some((id, text));
        id
    }

    fn text(&mut self, id: u32) -> String {
        if id < ONE_OFF {
            return self.texts.get(id as usize).cloned().unwrap_or_default();
        }
        match self.one_off.take() {
            Some((kept, text)) if kept == id => text,
            other => {
                self.one_off = other;
                String::new()
            }
        }
    }
}

fn with_validator<T: Validator, R>(f: impl FnOnce(&mut T) -> R) -> Option<R> {
    VALIDATOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        slot.as_mut().and_then(|b| b.downcast_mut::<T>()).map(f)
    })
}

fn verdict(result: Option<Result<(), String>>) -> vtypes::Verdict {
    match result {
        Some(Ok(())) => vtypes::Verdict::Pass,
        Some(Err(message)) => vtypes::Verdict::Fail(message),
        None => vtypes::Verdict::Fail("validator used before `configure`".into()),
    }
}

pub fn validator_configure<T: Validator>(config: &str) -> Result<vtypes::ValidatorInfo, String> {
    let plugin = T::new(crate::parse_config(config)?)?;
    let info = vtypes::ValidatorInfo {
        severity: match plugin.severity() {
            Severity::Critical => vtypes::Severity::Critical,
            Severity::Warning => vtypes::Severity::Warning,
        },
        counting: match plugin.counting() {
            Counting::PerIteration => vtypes::Counting::PerIteration,
            Counting::PerRun => vtypes::Counting::PerRun,
        },
        wants_events: plugin.wants_events(),
    };
    VALIDATOR.with(|cell| *cell.borrow_mut() = Some(Box::new(plugin)));
    Ok(info)
}

pub fn validator_observe<T: Validator>(iteration: u64, events: Vec<vtypes::Event>) {
    let events: Vec<Event> = events
        .into_iter()
        .map(|e| match e {
            vtypes::Event::RecursionDepth(d) => Event::RecursionDepth(d),
            vtypes::Event::Panic(m) => Event::Panic(m),
            vtypes::Event::Error(m) => Event::Error(m),
            vtypes::Event::Metric((name, value)) => Event::Metric(name, value),
        })
        .collect();
    with_validator::<T, _>(|v| v.observe(iteration, &events));
}

pub fn validator_check<T: Validator>(outcome: vtypes::Outcome) -> vtypes::Verdict {
    let outcome = Outcome {
        iteration: outcome.iteration,
        ok: outcome.ok,
        duration: Duration::from_nanos(outcome.duration_ns),
        panics: outcome.panics,
        errors: outcome.errors,
        max_recursion_depth: outcome.max_recursion_depth,
    };
    verdict(with_validator::<T, _>(|v| v.check(&outcome)))
}

pub fn validator_finish<T: Validator>() -> vtypes::Verdict {
    verdict(with_validator::<T, _>(|v| v.finish()))
}

use toxic_bindings::chaoskit::plugin::filter_types as ttypes;

/// A toxic and its open connections. A `BTreeMap`, not a `HashMap`: the latter's random seed
/// would import `wasi:random`, which the host refuses.
struct ToxicState<T: Toxic> {
    plugin: T,
    connections: std::collections::BTreeMap<u64, T::Connection>,
}

fn with_toxic<T: Toxic, R>(f: impl FnOnce(&mut ToxicState<T>) -> R) -> Option<R> {
    TOXIC.with(|cell| {
        let mut slot = cell.borrow_mut();
        slot.as_mut().and_then(|b| b.downcast_mut::<ToxicState<T>>()).map(f)
    })
}

fn direction(d: ttypes::Direction) -> Direction {
    match d {
        ttypes::Direction::Upstream => Direction::Upstream,
        ttypes::Direction::Downstream => Direction::Downstream,
    }
}

pub fn toxic_configure<T: Toxic>(attributes: &str) -> Result<(), String> {
    let plugin = T::new(crate::parse_config(attributes)?)?;
    TOXIC.with(|cell| {
        *cell.borrow_mut() = Some(Box::new(ToxicState::<T> { plugin, connections: std::collections::BTreeMap::new() }))
    });
    Ok(())
}

pub fn toxic_open<T: Toxic>(conn: u64, info: ttypes::ConnectionInfo) {
    let info = ConnectionInfo {
        proxy: info.proxy,
        toxic: info.toxic,
        index: info.index,
        direction: direction(info.direction),
    };
    with_toxic::<T, _>(|state| {
        let connection = state.plugin.open(&info);
        state.connections.insert(conn, connection);
    });
}

pub fn toxic_filter<T: Toxic>(conn: u64, dir: ttypes::Direction, chunk: Vec<u8>) -> Vec<ttypes::Step> {
    let steps = with_toxic::<T, _>(|state| {
        let ToxicState { plugin, connections } = state;
        match connections.get_mut(&conn) {
            Some(connection) => plugin.filter(connection, direction(dir), chunk),
            None => Vec::new(),
        }
    })
    .unwrap_or_default();
    steps
        .into_iter()
        .map(|s| match s {
            Step::Pass(n) => ttypes::Step::Pass(n),
            Step::Skip(n) => ttypes::Step::Skip(n),
            Step::Insert(b) => ttypes::Step::Insert(b),
            Step::Reply(b) => ttypes::Step::Reply(b),
            Step::Delay(d) => ttypes::Step::DelayNs(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            Step::Close => ttypes::Step::Close,
            Step::Reset => ttypes::Step::Reset,
        })
        .collect()
}

pub fn toxic_close<T: Toxic>(conn: u64) {
    with_toxic::<T, _>(|state| {
        if let Some(connection) = state.connections.remove(&conn) {
            state.plugin.close(connection);
        }
    });
}

//! A drop-in for the [`fail`](https://docs.rs/fail/0.5) crate: switch a project by changing
//! its import (`use chaoskit::fail;` and `use chaoskit::fail_point;`).
//!
//! - [`fail_point!`](crate::fail_point): `fail_point!(name)`, `fail_point!(name, |arg| ...)`,
//!   `fail_point!(name, cond, |arg| ...)`, compiled out unless the `failpoints` feature is on
//!   (off by default, as in `fail`).
//! - [`cfg`], [`cfg_callback`], [`remove`], [`list`], [`FailScenario`] (reads `FAILPOINTS`),
//!   [`FailGuard`], [`has_failpoints`]: the same functions with the same action grammar
//!   (`off`, `return[(arg)]`, `sleep(ms)`, `panic[(msg)]`, `print[(msg)]`, `pause`, `yield`,
//!   `delay(ms)`, `p%`, `n*`, chains with `->`) and the same semantics.
//!
//! **Inside a chaoskit run** whose scenario has failpoint injectors (`inject::failpoint`, or
//! `type = "failpoint"` in a scenario file, by name or glob), a site asks
//! [`ChaosContext::decide`](crate::ChaosContext::decide) instead: the decision is seeded,
//! journaled and replayable, and `fail::cfg` settings are not consulted for that run. An
//! `error` decision is the site's `return(message)`; `delay` sleeps the thread; `panic`
//! panics; `cancel` cancels the iteration's token. In a run without failpoint injectors,
//! and outside runs, the `fail::cfg` settings apply as in `fail` (unseeded).
//!
//! Cost: with nothing configured and no run that injects failpoints, a site is one relaxed
//! atomic load. A configured site never takes a lock on the call path (see BENCHMARKS.md).
//! Each distinct literal site name, and each name given to `cfg`, is kept for the life of
//! the process (a few dozen bytes each).
//!
//! Differences from `fail` 0.5: `delay` and `sleep` in a run are `ChaosContext` delays;
//! probabilities outside runs come from a per-thread generator seeded by the OS, like
//! `fail`'s `thread_rng`.

mod grammar;

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use crate::chaos::{self, Action, NetworkFault, PointKind};
use grammar::{Task, Term};

/// Non-zero while some failpoint is configured (low 32 bits) or some live chaos plan has
/// failpoint injectors (high 32 bits): the whole cost of an idle site is loading it.
static ARMED: AtomicU64 = AtomicU64::new(0);
const RUN: u64 = 1 << 32;

static REGISTRY: LazyLock<RwLock<HashMap<Box<str>, &'static FailPoint>>> = LazyLock::new(Default::default);
static SCENARIO: Mutex<()> = Mutex::new(());

/// Arms the sites for as long as a chaos plan with failpoint injectors lives.
pub(crate) struct RunArming(bool);

impl RunArming {
    pub(crate) fn new(answers_failpoints: bool) -> Self {
        if answers_failpoints {
            ARMED.fetch_add(RUN, Ordering::Relaxed);
        }
        RunArming(answers_failpoints)
    }
}

impl Drop for RunArming {
    fn drop(&mut self) {
        if self.0 {
            ARMED.fetch_sub(RUN, Ordering::Relaxed);
        }
    }
}

/// What a site must do after a decision (panics, prints, pauses, yields and callbacks
/// happen inside the decision).
#[doc(hidden)]
#[derive(Debug, PartialEq, Eq)]
pub enum Fault {
    /// Sleep this long (`sleep(ms)`, or a chaoskit delay in a run).
    Sleep(Duration),
    /// Return early with this argument (`return[(arg)]`, or a chaoskit error in a run).
    Return(Option<String>),
}

const UNSET: u8 = 0;
const OFF: u8 = 1;
const LIVE: u8 = 2;

struct Config {
    text: String,
    terms: Vec<Term>,
    /// The pause epoch this configuration was installed at: a paused caller wakes when it moves.
    epoch: u64,
}

/// One named failpoint's configuration; interned for the life of the process.
struct FailPoint {
    name: Box<str>,
    /// `UNSET`, `OFF` (first term is a plain `off`: nothing can happen) or `LIVE`.
    mode: AtomicU8,
    config: ArcSwapOption<Config>,
    epoch: Mutex<u64>,
    woken: Condvar,
}

impl FailPoint {
    fn intern(registry: &mut HashMap<Box<str>, &'static FailPoint>, name: &str) -> &'static FailPoint {
        if let Some(p) = registry.get(name) {
            return p;
        }
        let point: &'static FailPoint = Box::leak(Box::new(FailPoint {
            name: name.into(),
            mode: AtomicU8::new(UNSET),
            config: ArcSwapOption::empty(),
            epoch: Mutex::new(0),
            woken: Condvar::new(),
        }));
        registry.insert(name.into(), point);
        point
    }

    /// Installs (or clears) the configuration; the caller holds the registry's write lock.
    fn set(&self, config: Option<(String, Vec<Term>)>) {
        let mut epoch = self.epoch.lock().unwrap_or_else(|e| e.into_inner());
        *epoch += 1;
        let was_set = self.mode.load(Ordering::Relaxed) != UNSET;
        let mode = match &config {
            None => UNSET,
            Some((_, terms)) if terms.first().is_some_and(Term::is_always_off) => OFF,
            Some(_) => LIVE,
        };
        self.config.store(config.map(|(text, terms)| Arc::new(Config { text, terms, epoch: *epoch })));
        self.mode.store(mode, Ordering::Release);
        match (was_set, mode != UNSET) {
            (false, true) => ARMED.fetch_add(1, Ordering::Relaxed),
            (true, false) => ARMED.fetch_sub(1, Ordering::Relaxed),
            _ => 0,
        };
        // Wake every caller paused on the old configuration.
        self.woken.notify_all();
    }

    fn decide(&self) -> Option<Fault> {
        if self.mode.load(Ordering::Acquire) != LIVE {
            return None;
        }
        let guard = self.config.load();
        let config = guard.as_ref()?;
        let task = config.terms.iter().find_map(|t| t.take(next_unit))?;
        match task {
            Task::Off => None,
            Task::Return(arg) => Some(Fault::Return(arg.clone())),
            Task::Sleep(ms) => Some(Fault::Sleep(Duration::from_millis(*ms))),
            Task::Panic(Some(msg)) => panic!("{msg}"),
            Task::Panic(None) => panic!("failpoint {} panic", self.name),
            Task::Print(Some(msg)) => {
                log::info!("{msg}");
                None
            }
            Task::Print(None) => {
                log::info!("failpoint {} executed.", self.name);
                None
            }
            Task::Pause => {
                let installed = config.epoch;
                drop(guard);
                let mut epoch = self.epoch.lock().unwrap_or_else(|e| e.into_inner());
                while *epoch == installed {
                    epoch = self.woken.wait(epoch).unwrap_or_else(|e| e.into_inner());
                }
                None
            }
            Task::Yield => {
                std::thread::yield_now();
                None
            }
            Task::Delay(ms) => {
                let until = Instant::now() + Duration::from_millis(*ms);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                None
            }
            Task::Callback(f) => {
                f();
                None
            }
        }
    }
}

/// A uniform draw in `[0, 1)` from a per-thread SplitMix64 stream seeded by the OS (as
/// `fail` draws from `thread_rng`); chaoskit runs never use it.
fn next_unit() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(std::collections::hash_map::RandomState::new().hash_one(0u8));
    }
    let z = STATE.with(|s| {
        let next = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(next);
        next
    });
    (chaos::mix(z) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Asks the current run, if its scenario injects failpoints; `None` to fall back to `cfg`.
fn in_run(name: &str) -> Option<Option<Fault>> {
    chaos::with_current(|ctx| {
        if !ctx.answers(PointKind::Failpoint) {
            return None;
        }
        Some(match ctx.decide(PointKind::Failpoint, Some(name)) {
            Action::None => None,
            Action::Delay(d) | Action::Network(NetworkFault { latency: d, drop: false }) => {
                (!d.is_zero()).then_some(Fault::Sleep(d))
            }
            Action::Network(NetworkFault { drop: true, .. }) => Some(Fault::Return(Some("connection dropped".into()))),
            Action::Error(message) => {
                ctx.record_error(&message);
                Some(Fault::Return(Some(message)))
            }
            Action::Panic(message) => std::panic::panic_any(message),
            Action::Cancel => {
                ctx.cancellation_token().cancel();
                None
            }
        })
    })
    .flatten()
}

/// A site with a literal name: its failpoint is looked up once, then cached.
#[doc(hidden)]
#[derive(Debug)]
pub struct Site {
    name: &'static str,
    point: OnceLock<&'static FailPoint>,
}

impl std::fmt::Debug for FailPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailPoint").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Site {
    /// A site called `name` (usable in a `static`).
    pub const fn new(name: &'static str) -> Site {
        Site { name, point: OnceLock::new() }
    }

    /// The site's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Decides the site: `None` when nothing is to be done by the caller.
    #[inline(always)]
    pub fn decide(&'static self) -> Option<Fault> {
        let armed = ARMED.load(Ordering::Relaxed);
        if armed == 0 {
            return None;
        }
        self.decide_armed(armed)
    }

    #[inline(never)]
    fn decide_armed(&'static self, armed: u64) -> Option<Fault> {
        if armed >= RUN
            && let Some(decided) = in_run(self.name)
        {
            return decided;
        }
        let point = self.point.get_or_init(|| {
            let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
            FailPoint::intern(&mut registry, self.name)
        });
        point.decide()
    }

    /// The body of `fail_point!(name, |arg| ...)`: sleeps a `sleep`, returns `Some` for a
    /// `return`.
    #[inline(always)]
    pub fn eval<R>(&'static self, f: impl FnOnce(Option<String>) -> R) -> Option<R> {
        match self.decide()? {
            Fault::Sleep(d) => {
                std::thread::sleep(d);
                None
            }
            Fault::Return(arg) => Some(f(arg)),
        }
    }

    /// The body of `fail_point!(name)`: a `return` here is a mistake, as in `fail`.
    #[inline(always)]
    pub fn eval_no_return(&'static self) {
        self.eval(|_| -> () { panic!("Return is not supported for the fail point \"{}\"", self.name) });
    }
}

/// The body of `fail_point!` with a name computed at run time (no cached site).
#[doc(hidden)]
pub fn eval<R, F: FnOnce(Option<String>) -> R>(name: &str, f: F) -> Option<R> {
    let armed = ARMED.load(Ordering::Relaxed);
    if armed == 0 {
        return None;
    }
    let decided = match in_run_if(armed, name) {
        Some(decided) => decided,
        None => {
            let point = REGISTRY.read().unwrap_or_else(|e| e.into_inner()).get(name).copied();
            point.and_then(FailPoint::decide)
        }
    };
    match decided? {
        Fault::Sleep(d) => {
            std::thread::sleep(d);
            None
        }
        Fault::Return(arg) => Some(f(arg)),
    }
}

fn in_run_if(armed: u64, name: &str) -> Option<Option<Fault>> {
    if armed >= RUN { in_run(name) } else { None }
}

fn function_error(arg: Option<String>, name: &str) -> crate::ChaosError {
    crate::ChaosError { message: arg.unwrap_or_else(|| format!("injected failure at `{name}`")) }
}

/// Applies a fault at a `#[chaos_fn]` function's entry: sleeps the thread for a delay,
/// returns the error to return for a `return` / chaoskit error.
#[doc(hidden)]
pub fn function_fault(fault: Fault, name: &str) -> Option<crate::ChaosError> {
    match fault {
        Fault::Sleep(d) => {
            std::thread::sleep(d);
            None
        }
        Fault::Return(arg) => Some(function_error(arg, name)),
    }
}

/// [`function_fault`] for an `async fn`: the delay is a `tokio` sleep.
#[doc(hidden)]
pub async fn function_fault_async(fault: Fault, name: &str) -> Option<crate::ChaosError> {
    match fault {
        Fault::Sleep(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Fault::Return(arg) => Some(function_error(arg, name)),
    }
}

/// Configures the failpoint `name` with `actions` (fail's grammar); replaces what was set.
///
/// ```
/// chaoskit::fail::cfg("db.write", "2*return(disk full)->off").unwrap();
/// assert!(chaoskit::fail::list().contains(&("db.write".into(), "2*return(disk full)->off".into())));
/// assert!(chaoskit::fail::cfg("db.write", "retrun").is_err());
/// chaoskit::fail::remove("db.write");
/// ```
pub fn cfg<S: Into<String>>(name: S, actions: &str) -> Result<(), String> {
    let terms = grammar::parse(actions)?;
    let name = name.into();
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    FailPoint::intern(&mut registry, &name).set(Some((actions.to_owned(), terms)));
    Ok(())
}

/// Makes the failpoint `name` call `f` each time it is reached.
pub fn cfg_callback<S, F>(name: S, f: F) -> Result<(), String>
where
    S: Into<String>,
    F: Fn() + Send + Sync + 'static,
{
    let name = name.into();
    let term = Term::new(Task::Callback(Arc::new(f)), 1.0, None);
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    FailPoint::intern(&mut registry, &name).set(Some(("callback".to_owned(), vec![term])));
    Ok(())
}

/// Removes the configuration of `name`, waking anything paused there.
pub fn remove<S: AsRef<str>>(name: S) {
    let registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    if let Some(point) = registry.get(name.as_ref()) {
        point.set(None);
    }
}

/// Every configured failpoint with its action string.
pub fn list() -> Vec<(String, String)> {
    let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    registry.values().filter_map(|p| p.config.load().as_ref().map(|c| (p.name.to_string(), c.text.clone()))).collect()
}

/// Whether `fail_point!` sites are compiled in (the `failpoints` feature).
pub const fn has_failpoints() -> bool {
    cfg!(feature = "failpoints")
}

fn clear_all(registry: &HashMap<Box<str>, &'static FailPoint>) {
    for point in registry.values() {
        point.set(None);
    }
}

/// A test scenario: configures failpoints from `FAILPOINTS` (`name=actions;...`) on setup,
/// clears every failpoint on setup and teardown, and keeps scenarios in one process from
/// overlapping (like `fail::FailScenario`).
#[derive(Debug)]
pub struct FailScenario<'a> {
    _exclusive: MutexGuard<'a, ()>,
}

impl FailScenario<'_> {
    /// Clears every failpoint, then applies `FAILPOINTS`. Panics on a malformed
    /// `FAILPOINTS`, naming the entry and the problem (as `fail` does).
    pub fn setup() -> Self {
        let exclusive = SCENARIO.lock().unwrap_or_else(|e| e.into_inner());
        let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
        clear_all(&registry);
        let failpoints = match std::env::var("FAILPOINTS") {
            Ok(s) => s,
            Err(std::env::VarError::NotPresent) => return FailScenario { _exclusive: exclusive },
            Err(e) => panic!("invalid failpoints: {e:?}"),
        };
        for entry in failpoints.trim().split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((name, actions)) = entry.split_once('=') else {
                panic!("invalid failpoint: {entry:?}");
            };
            match grammar::parse(actions) {
                Ok(terms) => FailPoint::intern(&mut registry, name).set(Some((actions.to_owned(), terms))),
                Err(e) => panic!("unable to configure failpoint \"{name}\": {e}"),
            }
        }
        FailScenario { _exclusive: exclusive }
    }

    /// Clears every failpoint and ends the scenario (dropping it does the same).
    pub fn teardown(self) {
        drop(self)
    }
}

impl Drop for FailScenario<'_> {
    fn drop(&mut self) {
        clear_all(&REGISTRY.read().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Configures a failpoint for as long as the guard lives.
#[derive(Debug)]
pub struct FailGuard(String);

impl FailGuard {
    /// [`cfg`] now, [`remove`] on drop.
    pub fn new<S: Into<String>>(name: S, actions: &str) -> Result<FailGuard, String> {
        let name = name.into();
        cfg(name.as_str(), actions)?;
        Ok(FailGuard(name))
    }

    /// [`cfg_callback`] now, [`remove`] on drop.
    pub fn with_callback<S, F>(name: S, f: F) -> Result<FailGuard, String>
    where
        S: Into<String>,
        F: Fn() + Send + Sync + 'static,
    {
        let name = name.into();
        cfg_callback(name.as_str(), f)?;
        Ok(FailGuard(name))
    }
}

impl Drop for FailGuard {
    fn drop(&mut self) {
        remove(&self.0);
    }
}

/// A `fail`-compatible failpoint (see [`chaoskit::fail`](crate::fail)).
///
/// - `fail_point!(name)`: may sleep, panic, print, pause, yield or call back.
/// - `fail_point!(name, |arg: Option<String>| expr)`: also returns `expr` from the
///   enclosing function when the action is `return[(arg)]` (or a chaoskit error in a run).
/// - `fail_point!(name, cond, |arg| expr)`: only when `cond` holds.
///
/// Compiled to nothing unless chaoskit's `failpoints` feature is on.
#[cfg(feature = "failpoints")]
#[macro_export]
macro_rules! fail_point {
    ($name:literal) => {{
        static __CHAOSKIT_SITE: $crate::fail::Site = $crate::fail::Site::new($name);
        __CHAOSKIT_SITE.eval_no_return();
    }};
    ($name:literal, $e:expr) => {{
        static __CHAOSKIT_SITE: $crate::fail::Site = $crate::fail::Site::new($name);
        if let ::core::option::Option::Some(res) = __CHAOSKIT_SITE.eval($e) {
            return res;
        }
    }};
    ($name:expr) => {{
        $crate::fail::eval($name, |_| -> () {
            panic!("Return is not supported for the fail point \"{}\"", $name);
        });
    }};
    ($name:expr, $e:expr) => {{
        if let ::core::option::Option::Some(res) = $crate::fail::eval($name, $e) {
            return res;
        }
    }};
    ($name:expr, $cond:expr, $e:expr) => {{
        if $cond {
            $crate::fail_point!($name, $e);
        }
    }};
}

/// A `fail`-compatible failpoint, compiled out: the `failpoints` feature is off.
#[cfg(not(feature = "failpoints"))]
#[macro_export]
macro_rules! fail_point {
    ($name:expr, $e:expr) => {{}};
    ($name:expr) => {{}};
    ($name:expr, $cond:expr, $e:expr) => {{}};
}

pub use crate::fail_point;

#[cfg(test)]
mod tests {
    use super::*;

    static SITE: Site = Site::new("fail::tests::site");

    #[test]
    fn configured_site_returns_then_removal_silences_it() {
        cfg("fail::tests::site", "1*return(x)->sleep(1)").unwrap();
        assert_eq!(SITE.decide(), Some(Fault::Return(Some("x".into()))));
        assert_eq!(SITE.decide(), Some(Fault::Sleep(Duration::from_millis(1))));
        cfg("fail::tests::site", "off->return").unwrap();
        assert_eq!(SITE.decide(), None);
        remove("fail::tests::site");
        assert_eq!(SITE.decide(), None);
        assert!(!list().iter().any(|(n, _)| n == "fail::tests::site"));
    }

    #[test]
    fn dynamic_names_find_configured_points() {
        cfg("fail::tests::dynamic", "return(7)").unwrap();
        let name = String::from("fail::tests::dynamic");
        assert_eq!(eval(&name, |a| a.unwrap().parse::<u32>().unwrap()), Some(7));
        remove(&name);
        assert_eq!(eval(&name, |_| 0), None);
    }
}

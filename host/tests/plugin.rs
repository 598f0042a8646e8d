//! Wasm plugins through the real host: loading, sandbox limits, each plugin's behaviour, hot
//! reload, and runs of the real executor. The plugins are built from `plugins/` by the
//! `plugin-artifacts` crate.

use chaoskit::plugin::{
    Grant, Limits, LoadedPlugin, PluginError, PluginHost, PluginSpec, WasmInjector, WasmValidator, World,
};
use chaoskit::{Action, Draws, Event, Injector, IterationOutcome, Point, PointKind, Validator, Violation};
use plugin_artifacts as artifacts;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// One host for the whole test binary (an engine and its ticker thread).
fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new().expect("plugin host"))
}

/// Generous deadlines: tests run in parallel on small machines, and a deadline is wall-clock
/// time (a preempted call can overrun a few milliseconds). Deadline tests set their own.
fn relaxed() -> Limits {
    Limits::default()
        .decide_deadline(Duration::from_millis(500))
        .configure_deadline(Duration::from_secs(2))
        .validate_deadline(Duration::from_millis(500))
}

fn spec(artifact: &'static str) -> PluginSpec {
    PluginSpec::new(artifacts::path(artifact)).limits(relaxed())
}

fn injector(artifact: &'static str, config: &str) -> WasmInjector {
    host().load_injector(spec(artifact).config(config)).unwrap_or_else(|e| panic!("{e}"))
}

fn validator(artifact: &'static str, config: &str) -> WasmValidator {
    host().load_validator(spec(artifact).config(config)).unwrap_or_else(|e| panic!("{e}"))
}

fn point(id: u32, kind: PointKind, name: &str, iteration: u64) -> Point<'_> {
    Point { id, kind, name, scope: None, iteration }
}

/// Decide at one point for one iteration, with the iteration's stream seeded like a run.
fn decide(inj: &impl Injector, kind: PointKind, iteration: u64) -> Action {
    let mut rng = ChaCha8Rng::seed_from_u64(7 ^ iteration.wrapping_mul(0x9E37_79B9));
    let mut draws = Draws::from_rng(&mut rng);
    inj.decide(&point(0, kind, "db.query", iteration), &mut draws)
}

fn outcome(index: u64, ok: bool, duration: Duration, events: &[Event]) -> IterationOutcome<'_> {
    IterationOutcome {
        index,
        ok,
        duration,
        error: (!ok).then_some("failed"),
        stalled_step: None,
        steps_executed: 1,
        events,
        max_recursion_depth: 0,
        panics: 0,
        errors: u32::from(!ok),
    }
}

/// Run `f` with a subscriber that captures this thread's log lines.
fn logged<R>(f: impl FnOnce() -> R) -> (R, String) {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (r, text)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Write `bytes` to `path` the way publishers should: a temp file, then a rename.
fn publish(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).expect("write temp");
    std::fs::rename(&tmp, path).expect("rename");
}

fn copy_to(dir: &Path, artifact: &'static str, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy(artifacts::path(artifact), &path).expect("copy plugin");
    path
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

mod load {
    use super::*;

    #[test]
    fn each_world_is_recognised_from_the_exports() {
        let spike = host().load(spec(artifacts::LATENCY_SPIKE).config(r#"{"period": 10, "burst": 1}"#));
        assert_eq!(spike.expect("latency-spike loads").world(), World::Injector);
        let budget = host().load(spec(artifacts::ERROR_BUDGET).config(r#"{"budget": 1}"#));
        assert_eq!(budget.expect("error-budget loads").world(), World::Validator);
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = host().load(PluginSpec::new("/nonexistent/x.wasm")).unwrap_err();
        assert!(matches!(err, PluginError::Io { .. }));
        assert!(err.to_string().starts_with("cannot read plugin `/nonexistent/x.wasm`: "), "{err}");
    }

    #[test]
    fn garbage_bytes_are_not_a_component() {
        let dir = tempdir();
        let path = dir.path().join("garbage.wasm");
        std::fs::write(&path, b"Garbage, not wasm at all").unwrap();
        let err = host().load(PluginSpec::new(&path)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "plugin `{}` is not a WebAssembly component: it starts with bytes 47 61 72 62 instead of `\\0asm`",
                path.display()
            )
        );
    }

    #[test]
    fn a_truncated_component_is_invalid() {
        let dir = tempdir();
        let bytes = std::fs::read(artifacts::path(artifacts::LATENCY_SPIKE)).unwrap();
        let path = dir.path().join("truncated.wasm");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = host().load(PluginSpec::new(&path)).unwrap_err();
        assert!(matches!(err, PluginError::Invalid { .. }), "{err:?}");
        let prefix = format!("plugin `{}` is not a valid component: ", path.display());
        assert!(err.to_string().starts_with(&prefix), "{err}");
    }

    #[test]
    fn a_core_module_is_refused_with_how_to_build_a_component() {
        let dir = tempdir();
        let path = dir.path().join("core.wasm");
        // The smallest valid core module: magic and version 1.
        std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
        let err = host().load(PluginSpec::new(&path)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "plugin `{}` is a core WebAssembly module, not a component; build it with `cargo build --release --target wasm32-wasip2` against chaoskit-plugin-sdk",
                path.display()
            )
        );
    }

    #[test]
    fn a_validator_where_an_injector_is_required_is_the_wrong_world() {
        let path = artifacts::path(artifacts::ERROR_BUDGET);
        let err = host().load_injector(PluginSpec::new(path).config(r#"{"budget": 1}"#)).unwrap_err();
        assert_eq!(err.to_string(), format!("plugin `{path}` is a validator, but an injector is required here"));
        let path = artifacts::path(artifacts::LATENCY_SPIKE);
        let err = host().load_validator(PluginSpec::new(path)).unwrap_err();
        assert_eq!(err.to_string(), format!("plugin `{path}` is an injector, but a validator is required here"));
    }

    #[test]
    fn a_wasi_filesystem_import_is_refused_naming_the_import() {
        let path = artifacts::path(artifacts::FIXTURE_WASI_FS);
        let err = host().load(PluginSpec::new(path)).unwrap_err();
        let PluginError::ImportNotGranted { import, .. } = &err else {
            panic!("expected ImportNotGranted, got {err:?}")
        };
        assert!(import.starts_with("wasi:filesystem/"), "the filesystem import is named first: {import}");
        assert_eq!(
            err.to_string(),
            format!(
                "plugin `{path}` imports `{import}`, which is not granted: no grant provides it (the only grant is `stdio`: `grants = [\"stdio\"]` in the scenario's plugin entry); pass what the plugin needs through its JSON configuration"
            )
        );
    }

    #[test]
    fn a_refused_configuration_carries_the_plugins_message() {
        let path = artifacts::path(artifacts::LATENCY_SPIKE);
        let err = host().load(PluginSpec::new(path).config(r#"{"period": 0, "burst": 0}"#)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("plugin `{path}` refused its configuration: `period` must be greater than 0")
        );
        let err = host().load(PluginSpec::new(path).config(r#"{"perod": 5, "burst": 1}"#)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("refused its configuration: invalid configuration: unknown field `perod`"), "{text}");
    }

    #[test]
    fn limits_out_of_range_name_the_limit() {
        let path = artifacts::path(artifacts::LATENCY_SPIKE);
        let err = host().load(PluginSpec::new(path).limits(Limits::default().memory(2 << 30))).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "plugin `{path}`: invalid limit `memory`: 2147483648 bytes is outside 64 KiB..=1 GiB (one Wasm page to the host's ceiling)"
            )
        );
        let err = host().load(PluginSpec::new(path).limits(Limits::default().instances(0))).unwrap_err();
        assert!(err.to_string().ends_with("invalid limit `instances`: 0 is outside 1..=256"), "{err}");
    }

    #[test]
    fn inspect_reports_world_imports_exports_size_and_hash() {
        let path = artifacts::path(artifacts::FLAKY_DEPENDENCY);
        let info = host().inspect(path).expect("inspect");
        assert_eq!(info.world, Some(World::Injector));
        assert!(info.imports.iter().any(|i| i == "chaoskit:plugin/host@0.1.0"), "{:?}", info.imports);
        assert_eq!(info.exports, ["configure", "register-point", "decide"]);
        assert_eq!(info.size, std::fs::metadata(path).unwrap().len());
        assert_eq!(info.sha256.len(), 64);
        let info = host().inspect(artifacts::path(artifacts::LATENCY_SLO)).expect("inspect");
        assert_eq!(info.world, Some(World::Validator));
        assert_eq!(info.mismatch, None);
    }

    #[test]
    fn matching_export_names_with_other_types_are_no_world() {
        let path = artifacts::path(artifacts::FIXTURE_WRONG_TYPES);
        let info = host().inspect(path).expect("inspect");
        assert_eq!(info.exports, ["configure", "register-point", "decide"]);
        assert_eq!(info.world, None, "the names match the injector world, the types do not");
        let why = info.mismatch.expect("the mismatch is explained");
        assert!(
            why.starts_with("it exports the names of an injector but their types do not match the contract: ")
                && why.contains("`configure`"),
            "{why}"
        );
        assert!(host().load(PluginSpec::new(path)).is_err(), "and it does not load");
    }

    #[test]
    fn a_disk_cache_is_shared_between_hosts() {
        let dir = tempdir();
        let first = PluginHost::with_disk_cache(dir.path()).unwrap();
        let spec = || spec(artifacts::LATENCY_SPIKE).config(r#"{"period": 2, "burst": 1}"#);
        first.load(spec()).unwrap();
        let files = || walk(dir.path());
        wait_until("a cache file", || files() > 0);
        // A second host (as in the next process) loads from the cache directory.
        let second = PluginHost::with_disk_cache(dir.path()).unwrap();
        let LoadedPlugin::Injector(inj) = second.load(spec()).unwrap() else { panic!("an injector") };
        assert_ne!(decide(&inj, PointKind::Delay, 0), Action::None);
    }

    fn walk(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| entries.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum())
            .unwrap_or(0)
    }

    #[test]
    fn the_same_file_loads_from_the_cache_and_configures_again() {
        let a = injector(artifacts::LATENCY_SPIKE, r#"{"period": 10, "burst": 10, "min_ms": 1}"#);
        let b = injector(artifacts::LATENCY_SPIKE, r#"{"period": 10, "burst": 0}"#);
        assert_eq!(a.sha256(), b.sha256());
        assert_eq!(decide(&a, PointKind::Delay, 0), Action::Delay(Duration::from_millis(1)));
        assert_eq!(decide(&b, PointKind::Delay, 0), Action::None);
    }
}

/// Every adversarial fixture is contained: the call fails open, the next call works.
mod sandbox {
    use super::*;

    fn misbehave(config: &str, limits: Limits) -> WasmInjector {
        host()
            .load_injector(spec(artifacts::FIXTURE_MISBEHAVE).config(config).limits(limits))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Misbehave on even iterations, answer `Cancel` on odd ones.
    fn assert_contained(inj: &WasmInjector, note: &str) {
        for i in 0..4u64 {
            let action = decide(inj, PointKind::Error, i);
            if i % 2 == 0 {
                assert_eq!(action, Action::None, "iteration {i} must fail open");
            } else {
                assert_eq!(action, Action::Cancel, "iteration {i} must be served by a rebuilt instance");
            }
        }
        assert_eq!(inj.failures(), 2);
        assert!(!inj.is_disabled());
        let notes = inj.notes();
        assert!(notes.iter().any(|n| n.contains(note)), "notes {notes:?} should mention {note:?}");
        assert!(
            notes[0]
                .starts_with(&format!("plugin `fixture_misbehave` (sha256 {}): 2 decisions failed open", inj.sha256())),
            "{notes:?}"
        );
    }

    #[test]
    fn an_endless_loop_is_interrupted_at_the_deadline() {
        let inj = misbehave(r#"{"mode": "loop", "every": 2}"#, relaxed().decide_deadline(Duration::from_millis(3)));
        assert_contained(&inj, "ran past its 3ms deadline in `decide`");
    }

    #[test]
    fn memory_growth_stops_at_the_cap() {
        let inj = misbehave(r#"{"mode": "grow", "every": 2}"#, relaxed().memory(8 << 20));
        assert_contained(&inj, "exceeded its memory limit in `decide`");
        assert!(inj.notes()[0].contains("8388608 allowed"), "{:?}", inj.notes());
    }

    #[test]
    fn a_trap_is_contained() {
        let inj = misbehave(r#"{"mode": "trap", "every": 2}"#, relaxed());
        assert_contained(&inj, "trapped in `decide`");
    }

    #[test]
    fn a_panic_is_contained_and_its_message_shown() {
        let inj = misbehave(r#"{"mode": "panic", "every": 2}"#, relaxed());
        assert_contained(
            &inj,
            "trapped in `decide`: wasm trap: wasm `unreachable` instruction executed (guest stderr: thread",
        );
        assert!(inj.notes()[0].contains("misbehave: deliberate panic at iteration 2"), "{:?}", inj.notes());
    }

    #[test]
    fn a_stack_overflow_is_contained() {
        let inj = misbehave(r#"{"mode": "stack", "every": 2}"#, relaxed());
        assert_contained(&inj, "overflowed its stack in `decide`");
    }

    #[test]
    fn a_huge_string_result_is_refused() {
        let inj = misbehave(r#"{"mode": "huge", "every": 2}"#, relaxed());
        assert_contained(
            &inj,
            "returned a 16777216-byte message from `decide`, over the limit `max_message` = 4096 bytes",
        );
    }

    #[test]
    fn repeated_failures_disable_the_plugin() {
        let inj = misbehave(r#"{"mode": "trap"}"#, relaxed().max_failures(3, Duration::from_secs(60)));
        for i in 0..10 {
            assert_eq!(decide(&inj, PointKind::Error, i), Action::None);
        }
        assert!(inj.is_disabled());
        assert_eq!(inj.failures(), 3, "a disabled plugin is not called again");
        let notes = inj.notes();
        let disabled = format!(
            "plugin `fixture_misbehave` (sha256 {}) disabled after 3 failures in 60s (last: trapped in `decide`",
            inj.sha256()
        );
        assert!(notes.iter().any(|n| n.starts_with(&disabled)), "{notes:?}");
    }

    #[test]
    fn a_failing_validator_yields_an_error_verdict() {
        let v = validator(artifacts::FIXTURE_BAD_VALIDATOR, r#"{"mode": "trap", "every": 2}"#);
        let err = v.check(&outcome(0, true, Duration::ZERO, &[])).unwrap_err();
        assert!(err.harness_error);
        assert!(
            err.message
                .starts_with(&format!("plugin `fixture_bad_validator` (sha256 {}) trapped in `check`", v.sha256())),
            "{}",
            err.message
        );
        // The instance is rebuilt: the next check runs and passes.
        assert_eq!(v.check(&outcome(1, true, Duration::ZERO, &[])), Ok(()));
        assert_eq!(v.failures(), 1);
    }

    #[test]
    fn a_looping_validator_fails_at_its_deadline_or_passes_when_fail_open() {
        let limits = relaxed().validate_deadline(Duration::from_millis(5));
        let closed = host()
            .load_validator(spec(artifacts::FIXTURE_BAD_VALIDATOR).config(r#"{"mode": "loop"}"#).limits(limits.clone()))
            .unwrap();
        let err = closed.check(&outcome(0, true, Duration::ZERO, &[])).unwrap_err();
        assert_eq!(
            err,
            Violation::harness(format!(
                "plugin `fixture_bad_validator` (sha256 {}) ran past its 5ms deadline in `check`",
                closed.sha256()
            ))
        );
        let open = host()
            .load_validator(
                spec(artifacts::FIXTURE_BAD_VALIDATOR).config(r#"{"mode": "loop"}"#).limits(limits).fail_open(true),
            )
            .unwrap();
        assert_eq!(open.check(&outcome(0, true, Duration::ZERO, &[])), Ok(()));
        assert_eq!(open.failures(), 1);
    }

    #[test]
    fn stdio_is_dropped_without_a_grant() {
        let inj = injector(artifacts::FIXTURE_STDIO, "{}");
        let (action, log) = logged(|| decide(&inj, PointKind::Delay, 0));
        assert_eq!(action, Action::Cancel);
        assert!(!log.contains("stdio fixture"), "{log}");
        assert_eq!(inj.failures(), 0);
    }

    #[test]
    fn stdio_goes_to_the_log_with_a_grant() {
        let inj = host().load_injector(spec(artifacts::FIXTURE_STDIO).grant(Grant::Stdio)).unwrap();
        let (action, log) = logged(|| decide(&inj, PointKind::Delay, 4));
        assert_eq!(action, Action::Cancel);
        assert!(
            log.contains("stream=\"stdout\" stdio fixture: stdout at `db.query` iteration 4")
                || log.contains("stdio fixture: stdout at `db.query` iteration 4"),
            "{log}"
        );
        assert!(log.contains("stdio fixture: stderr at iteration 4"), "{log}");
    }

    #[test]
    fn a_wrong_config_type_is_refused_at_load() {
        let err = host().load(spec(artifacts::FIXTURE_MISBEHAVE).config(r#"{"mode": 3}"#)).unwrap_err();
        assert!(
            err.to_string().contains("invalid configuration: invalid type: integer `3`, expected a string"),
            "{err}"
        );
    }
}

/// Each plugin in `plugins/` does what its docs say, through the real host.
mod plugins {
    use super::*;

    macro_rules! assert_test_exists {
        ($name:ident) => {
            #[allow(unused_imports, reason = "only checks that the module exists")]
            use self::$name as _;
        };
    }
    plugin_artifacts::foreach_plugin!(assert_test_exists);

    mod latency_spike {
        use super::*;

        #[test]
        fn delays_only_inside_its_window() {
            let inj = injector(artifacts::LATENCY_SPIKE, r#"{"period": 10, "burst": 3, "min_ms": 20, "max_ms": 40}"#);
            for i in 0..50 {
                match decide(&inj, PointKind::Delay, i) {
                    Action::Delay(d) => {
                        assert!(i % 10 < 3, "iteration {i} is outside the window");
                        assert!(d >= Duration::from_millis(20) && d <= Duration::from_millis(40), "{d:?}");
                    }
                    Action::None => assert!(i % 10 >= 3, "iteration {i} is inside the window"),
                    other => panic!("unexpected {other:?}"),
                }
            }
            // Only delay points are asked.
            assert_eq!(decide(&inj, PointKind::Error, 0), Action::None);
        }

        #[test]
        fn the_same_seed_gives_the_same_delays() {
            let config = r#"{"period": 4, "burst": 4, "min_ms": 1, "max_ms": 100, "probability": 0.5}"#;
            let a = injector(artifacts::LATENCY_SPIKE, config);
            let b = injector(artifacts::LATENCY_SPIKE, config);
            let run = |inj: &WasmInjector| (0..64).map(|i| decide(inj, PointKind::Delay, i)).collect::<Vec<_>>();
            let first = run(&a);
            assert_eq!(first, run(&b));
            let delays = first.iter().filter(|a| matches!(a, Action::Delay(_))).count();
            assert!((16..=48).contains(&delays), "about half of 64 should be delayed, got {delays}");
        }
    }

    mod flaky_dependency {
        use super::*;

        #[test]
        fn the_error_rate_ramps_up_over_decisions_shared_by_workers() {
            let inj = injector(
                artifacts::FLAKY_DEPENDENCY,
                r#"{"start_rate": 0.0, "end_rate": 1.0, "ramp_calls": 200, "message": "db down"}"#,
            );
            // Two workers share the ramp through the host counter.
            let errors_by_quarter = std::thread::scope(|s| {
                let inj = &inj;
                let workers: Vec<_> = (0..2u64)
                    .map(|w| {
                        s.spawn(move || {
                            (0..150u64).map(|i| decide(inj, PointKind::Error, w * 1000 + i)).collect::<Vec<_>>()
                        })
                    })
                    .collect();
                workers.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
            });
            assert_eq!(inj.counter("flaky.decisions"), Some(300));
            for actions in &errors_by_quarter {
                assert!(actions.iter().all(|a| *a == Action::None || *a == Action::Error("db down".into())));
            }
            // Past the ramp (decision 200 of the run) every decision is an error.
            let after = decide(&inj, PointKind::Error, 5);
            assert_eq!(after, Action::Error("db down".into()));
            let early =
                errors_by_quarter.iter().map(|a| a[..20].iter().filter(|a| **a != Action::None).count()).sum::<usize>();
            let late = errors_by_quarter
                .iter()
                .map(|a| a[130..].iter().filter(|a| **a != Action::None).count())
                .sum::<usize>();
            assert!(early < late, "early {early} errors should be fewer than late {late}");
            // Only error points are asked.
            assert_eq!(decide(&inj, PointKind::Delay, 0), Action::None);
        }

        #[test]
        fn max_errors_caps_the_run_and_points_filters_by_name() {
            let inj = injector(
                artifacts::FLAKY_DEPENDENCY,
                r#"{"start_rate": 1.0, "end_rate": 1.0, "max_errors": 3, "points": "db."}"#,
            );
            let errors = (0..10).filter(|i| decide(&inj, PointKind::Error, *i) != Action::None).count();
            assert_eq!(errors, 3);
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let other = point(1, PointKind::Error, "cache.get", 0);
            let fresh =
                injector(artifacts::FLAKY_DEPENDENCY, r#"{"start_rate": 1.0, "end_rate": 1.0, "points": "db."}"#);
            assert_eq!(fresh.decide(&other, &mut Draws::from_rng(&mut rng)), Action::None);
            assert_eq!(decide(&fresh, PointKind::Error, 0), Action::Error("flaky dependency: injected error".into()));
        }
    }

    mod error_budget {
        use super::*;

        #[test]
        fn fails_when_failures_in_the_window_exceed_the_budget() {
            let v = validator(artifacts::ERROR_BUDGET, r#"{"budget": 2, "window": 5}"#);
            // ok, fail, fail, ok, fail: the window of 5 holds 3 failures at index 4.
            let pattern = [true, false, false, true, false];
            let results: Vec<_> = pattern
                .iter()
                .enumerate()
                .map(|(i, ok)| v.check(&outcome(i as u64, *ok, Duration::ZERO, &[])))
                .collect();
            for r in &results[..4] {
                assert_eq!(*r, Ok(()));
            }
            assert_eq!(
                results[4],
                Err(Violation::new("error budget exceeded: 3 failed iterations in the last 5 (budget 2)"))
            );
            assert_eq!(v.severity(), chaoskit::Severity::Critical);
        }

        #[test]
        fn counts_recorded_errors_when_asked_and_can_warn() {
            let v = validator(
                artifacts::ERROR_BUDGET,
                r#"{"budget": 1, "window": 10, "count": "errors", "severity": "warning"}"#,
            );
            assert_eq!(v.severity(), chaoskit::Severity::Warning);
            let mut o = outcome(0, true, Duration::ZERO, &[]);
            o.errors = 2;
            assert_eq!(v.check(&o), Err(Violation::new("error budget exceeded: 2 errors in the last 1 (budget 1)")));
        }
    }

    mod latency_slo {
        use super::*;

        #[test]
        fn fails_at_the_end_when_p99_exceeds_the_bound() {
            let v = validator(artifacts::LATENCY_SLO, r#"{"max_ms": 50}"#);
            assert_eq!(v.counting(), chaoskit::Counting::PerRun);
            for i in 0..100u64 {
                // 98 fast iterations, 2 slow ones: p99 (rank 99) is slow.
                let ms = if i % 50 == 7 { 80 } else { 10 };
                assert_eq!(v.check(&outcome(i, true, Duration::from_millis(ms), &[])), Ok(()));
            }
            assert_eq!(
                v.finish(),
                Err(Violation::new("p99 latency 80.0ms exceeds the 50ms objective (100 iterations)"))
            );
        }

        #[test]
        fn passes_when_the_quantile_is_under_the_bound() {
            let v = validator(artifacts::LATENCY_SLO, r#"{"max_ms": 50, "quantile": 0.95}"#);
            for i in 0..100u64 {
                let ms = if i < 2 { 80 } else { 10 };
                v.check(&outcome(i, true, Duration::from_millis(ms), &[])).unwrap();
            }
            assert_eq!(v.finish(), Ok(()));
        }
    }
}

/// Issue 11: what a hostile plugin can make the host keep, or wait for, is bounded, accounted
/// to the plugin, and named with the limit and its value when hit.
mod hostile {
    use super::*;
    use chaoskit::report::ResourceSample;
    use chaoskit::{ChaosError, Scenario};

    fn misbehave(config: &str, limits: Limits) -> WasmInjector {
        host()
            .load_injector(spec(artifacts::FIXTURE_MISBEHAVE).config(config).limits(limits))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn rss() -> u64 {
        ResourceSample::now().expect("/proc/self on Linux").rss_bytes
    }

    /// Was: the host truncated the text but kept the allocation, for every failing iteration
    /// it recorded (650 MB after 30 iterations).
    #[test]
    fn a_20_mb_validator_message_is_cut_to_a_small_copy_and_memory_stays_flat() {
        let v = validator(artifacts::FIXTURE_BAD_VALIDATOR, r#"{"mode": "huge"}"#);
        // What the journal does: keep every failing iteration's violation.
        let mut kept = Vec::new();
        for i in 0..5 {
            kept.push(v.check(&outcome(i, true, Duration::ZERO, &[])).unwrap_err());
        }
        let before = rss();
        for i in 5..45 {
            kept.push(v.check(&outcome(i, true, Duration::ZERO, &[])).unwrap_err());
        }
        let grown = rss().saturating_sub(before);
        // Kept in full, 40 more messages would hold 800 MB.
        assert!(grown < 150 << 20, "host memory grew {grown} bytes over 40 failing iterations");
        let message = &kept[44].message;
        assert!(!kept[44].harness_error, "the plugin's own verdict, not a harness failure");
        assert!(message.len() < 4096 + 100, "{} bytes kept", message.len());
        assert!(message.starts_with("vvvv"), "{}", &message[..16]);
        assert!(
            message.ends_with(
                "… (cut: plugin `fixture_bad_validator` sent 20000000 bytes, limit `max_message` = 4096 bytes)"
            ),
            "{}",
            &message[message.len() - 120..]
        );
    }

    /// Was: a 10 MB refusal was echoed in full in the load error.
    #[test]
    fn a_huge_refusal_of_the_configuration_is_echoed_cut() {
        let err = host()
            .load(spec(artifacts::FIXTURE_MISBEHAVE).config(r#"{"mode": "refuse", "huge_bytes": 10000000}"#))
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, PluginError::Config { .. }), "{text:.200}");
        assert!(text.len() < 4096 + 400, "{} bytes", text.len());
        assert!(
            text.ends_with(
                "rrrr… (cut: plugin `fixture_misbehave` sent 10000000 bytes, limit `max_message` = 4096 bytes)"
            ),
            "{}",
            &text[text.len() - 120..]
        );
    }

    /// Was: 1,000 counters with 512 KiB names held 542 MB, kept across rebuilds and reloads.
    #[test]
    fn a_counter_name_bomb_traps_at_the_name_limit_and_nothing_is_kept() {
        let inj = misbehave(r#"{"mode": "counters", "every": 2}"#, relaxed());
        assert_eq!(decide(&inj, PointKind::Error, 0), Action::None, "the decision fails open");
        assert_eq!(decide(&inj, PointKind::Error, 1), Action::Cancel, "a rebuilt instance serves");
        let notes = inj.notes();
        assert!(
            notes.iter().any(|n| n.contains(
                "plugin `fixture_misbehave` asked for a counter with a 524288-byte name, over the limit `max_counter_name` = 256 bytes"
            )),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n == "plugin `fixture_misbehave`: 1 counter requests refused by the limits `max_counters` = 1024 and `max_counter_name` = 256 bytes; it holds 0 counters (0 bytes of names)"),
            "{notes:?}"
        );
    }

    #[test]
    fn counters_stop_at_the_count_limit_and_are_accounted() {
        let inj = misbehave(
            r#"{"mode": "counters", "counters": 100, "name_bytes": 16, "every": 2}"#,
            relaxed().max_counters(10),
        );
        assert_eq!(decide(&inj, PointKind::Error, 0), Action::None);
        assert_eq!(inj.counter("00000009-nnnnnnn"), Some(1), "the first ten were made");
        assert_eq!(inj.counter("00000010-nnnnnnn"), None);
        let notes = inj.notes().join("\n");
        assert!(notes.contains("asked for more counters than the limit `max_counters` = 10"), "{notes}");
        assert!(notes.contains("it holds 10 counters (160 bytes of names)"), "{notes}");
    }

    /// Was: a delay of u64::MAX ns hung every step, and after Ctrl-C the report said the
    /// plugin injected nothing.
    #[test]
    fn a_huge_delay_is_cut_to_max_delay_and_the_plugin_named() {
        let inj = misbehave(r#"{"mode": "forever"}"#, relaxed().max_delay(Duration::from_millis(250)));
        for i in 0..3 {
            assert_eq!(decide(&inj, PointKind::Delay, i), Action::Delay(Duration::from_millis(250)));
        }
        assert_eq!(
            inj.notes(),
            [
                "plugin `fixture_misbehave` asked for 3 delays over the limit `max_delay` = 250ms (the longest 18446744073.709551615s); each applied 250ms"
            ]
        );
    }

    #[tokio::test]
    async fn a_run_with_a_huge_delay_finishes_and_journals_the_applied_delay() {
        let inj = host()
            .load_injector(
                spec(artifacts::FIXTURE_MISBEHAVE)
                    .config(r#"{"mode": "forever"}"#)
                    .limits(relaxed().max_delay(Duration::from_millis(2))),
            )
            .unwrap();
        let scenario = Scenario::builder("forever")
            .target(chaoskit::target("svc", ()))
            .step("call", |ctx, _| async move {
                ctx.maybe_delay().await;
                Ok::<_, ChaosError>(())
            })
            .inject("forever", inj)
            .repeat(5)
            .build()
            .unwrap();
        let report = tokio::time::timeout(Duration::from_secs(30), chaoskit::run(scenario))
            .await
            .expect("the run is not held by the plugin's delay")
            .unwrap();
        assert_eq!(report.iterations.passed, 5);
        assert_eq!(report.injectors[0].injections.get("delay"), Some(&5), "{:?}", report.injectors[0]);
        let decision = &report.samples[0].decisions[0];
        assert_eq!(decision.injector, "forever");
        assert_eq!(decision.action, Action::Delay(Duration::from_millis(2)), "the journal has the applied delay");
        let notes = &report.injectors[0].notes;
        assert!(
            notes.iter().any(
                |n| n.starts_with("plugin `fixture_misbehave` asked for 5 delays over the limit `max_delay` = 2ms")
            ),
            "{notes:?}"
        );
    }

    /// Was: tens of megabytes of log lines per second, unthrottled.
    #[test]
    fn a_log_flood_is_rate_limited_with_a_suppressed_lines_summary() {
        let inj = misbehave(r#"{"mode": "log-flood", "lines": 5000}"#, relaxed().log_rate(50));
        let started = std::time::Instant::now();
        let (notes, log) = logged(|| {
            assert_eq!(decide(&inj, PointKind::Error, 0), Action::Cancel);
            assert_eq!(decide(&inj, PointKind::Error, 1), Action::Cancel);
            inj.notes()
        });
        let elapsed = started.elapsed().as_secs_f64();
        let written = log.matches("flood line").count();
        let allowed = 50 + (50.0 * elapsed).ceil() as usize;
        assert!((50..=allowed).contains(&written), "{written} lines written, at most {allowed} allowed");
        let suppressed = 10_000 - written;
        let summary = format!(
            "plugin `fixture_misbehave`: suppressed {suppressed} log lines over the limit `log_rate` = 50 lines/s"
        );
        assert!(notes.contains(&summary), "{notes:?} should contain {summary:?}");
        assert!(log.contains("plugin `fixture_misbehave`: suppressed "), "the log says so too");
    }

    /// Was: an import of our namespace the host does not define loaded, and trapped at the
    /// first call.
    #[test]
    fn an_unknown_chaoskit_import_is_refused_at_load_naming_it() {
        let path = artifacts::path(artifacts::FIXTURE_UNKNOWN_IMPORT);
        let err = host().load(PluginSpec::new(path)).unwrap_err();
        assert!(matches!(err, PluginError::UnknownImport { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "plugin `{path}` imports `chaoskit:plugin/host@0.1.0#steal-secrets`, which this host does not define: `chaoskit:plugin/host@0.1.0` has only `random-u64`, `now-ns`, `log`, `counter`, `counter-add`; the plugin was built against another contract: rebuild it against the chaoskit-plugin-sdk of this host"
            )
        );
    }

    /// The fixture `fuzz/` drives through the boundary: its results are held to the limits.
    #[test]
    fn fuzz_echo_results_are_held_to_the_limits() {
        let config = |program: &str| serde_json::json!({ "program": program }).to_string();
        let limits = relaxed().max_delay(Duration::from_millis(20)).max_message(256);
        let load = |program: &str| {
            host().load_injector(spec(artifacts::FIXTURE_FUZZ_ECHO).config(config(program)).limits(limits.clone()))
        };
        let cancel = load("4").unwrap();
        assert_eq!(decide(&cancel, PointKind::Cancel, 0), Action::Cancel);
        let delay = load("1\u{7f}\u{7f}\u{7f}\u{7f}\u{7f}\u{7f}\u{7f}\u{7f}").unwrap();
        assert_eq!(decide(&delay, PointKind::Delay, 0), Action::Delay(Duration::from_millis(20)));
        // 5 × 997 bytes of `e`: over `max_message`, so the decision fails open.
        let error = load("2\u{5}e").unwrap();
        assert_eq!(decide(&error, PointKind::Error, 0), Action::None);
        assert!(
            error.notes()[0]
                .contains("returned a 4985-byte message from `decide`, over the limit `max_message` = 256 bytes")
        );
        let refused = load("R\u{3}r").unwrap_err().to_string();
        assert!(
            refused.ends_with("(cut: plugin `fixture_fuzz_echo` sent 2991 bytes, limit `max_message` = 256 bytes)"),
            "{refused}"
        );
    }

    #[test]
    fn every_new_limit_is_checked_and_named() {
        let path = artifacts::path(artifacts::LATENCY_SPIKE);
        for (limits, message) in [
            (
                Limits::default().max_delay(Duration::from_secs(7200)),
                "invalid limit `max_delay`: 7200s is outside 0s..=1h",
            ),
            (Limits::default().max_message(10), "invalid limit `max_message`: 10 bytes is outside 64..=1048576"),
            (Limits::default().max_counters(0), "invalid limit `max_counters`: 0 is outside 1..=65536"),
            (Limits::default().max_counter_name(0), "invalid limit `max_counter_name`: 0 bytes is outside 1..=65536"),
            (Limits::default().log_rate(0), "invalid limit `log_rate`: 0 lines/s is outside 1..=100000"),
        ] {
            let err = host().load(PluginSpec::new(path).limits(limits)).unwrap_err();
            assert!(err.to_string().ends_with(message), "{err}");
        }
        let described = Limits::default().describe();
        for (name, value) in [
            ("max_delay", "1s"),
            ("max_message", "4096 bytes"),
            ("max_counters", "1024"),
            ("max_counter_name", "256 bytes"),
            ("log_rate", "100 lines/s"),
        ] {
            assert!(described.contains(&(name, value.to_string())), "{described:?}");
        }
    }
}

mod reload {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn version(action: &Action) -> &str {
        match action {
            Action::Error(m) => m,
            other => panic!("every decision must come from a version, got {other:?}"),
        }
    }

    #[test]
    fn a_new_version_swaps_in_while_workers_decide() {
        let dir = tempdir();
        let path = copy_to(dir.path(), artifacts::FIXTURE_VERSION_A, "live.wasm");
        let inj = Arc::new(host().load_injector(PluginSpec::new(&path).limits(relaxed()).watch(true)).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..2u64)
            .map(|w| {
                let (inj, stop) = (Arc::clone(&inj), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        seen.push(version(&decide(&*inj, PointKind::Error, w * 1_000_000 + i)).to_owned());
                        i += 1;
                    }
                    seen
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        publish(&path, &std::fs::read(artifacts::path(artifacts::FIXTURE_VERSION_B)).unwrap());
        wait_until("the reload", || inj.generation() == 1);
        std::thread::sleep(Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            let seen = w.join().unwrap();
            let first_b = seen.iter().position(|v| v == "version b").expect("version b served");
            assert!(first_b > 0, "version a served first");
            assert!(seen[..first_b].iter().all(|v| v == "version a"));
            assert!(seen[first_b..].iter().all(|v| v == "version b"), "no decision goes back to version a");
        }
        assert_eq!(inj.failures(), 0);
        assert!(inj.notes().iter().any(|n| n.starts_with("plugin `live` hot-reloaded 1 time(s)")), "{:?}", inj.notes());
    }

    #[test]
    fn a_broken_file_never_replaces_the_working_version() {
        let dir = tempdir();
        let path = copy_to(dir.path(), artifacts::FIXTURE_VERSION_A, "plugin.wasm");
        let inj = host().load_injector(PluginSpec::new(&path).limits(relaxed()).watch(true)).unwrap();
        let good = inj.sha256();
        let b = std::fs::read(artifacts::path(artifacts::FIXTURE_VERSION_B)).unwrap();
        let error_budget = std::fs::read(artifacts::path(artifacts::ERROR_BUDGET)).unwrap();
        // Garbage, a truncated component written in place, and a validator.
        for (what, bytes) in
            [("garbage", &b"garbage"[..]), ("truncated", &b[..b.len() / 3]), ("wrong world", &error_budget[..])]
        {
            std::fs::write(&path, bytes).unwrap();
            let err = inj.reload().expect_err(what);
            assert!(err.to_string().starts_with(&format!("plugin `{}`", path.display())), "{err}");
            assert_eq!(decide(&inj, PointKind::Error, 1), Action::Error("version a".into()), "{what}");
        }
        assert_eq!(inj.sha256(), good);
        assert_eq!(inj.generation(), 0);
        let notes = inj.notes();
        assert!(
            notes
                .iter()
                .any(|n| n
                    .contains("is a validator, but an injector is required here; the previous version kept serving")),
            "{notes:?}"
        );
        // A good file afterwards is taken.
        publish(&path, &b);
        wait_until("the good version", || inj.generation() == 1);
        assert_eq!(decide(&inj, PointKind::Error, 1), Action::Error("version b".into()));
    }
}

/// Loaded plugins in runs of the real executor: same decision path, journal and report.
mod scenario {
    use super::*;
    use chaoskit::{ChaosError, Scenario, Verdict};
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn wasm_injector_and_validator_run_like_built_ins() {
        let spike = injector(artifacts::LATENCY_SPIKE, r#"{"period": 10, "burst": 2, "min_ms": 1}"#);
        let budget = validator(artifacts::ERROR_BUDGET, r#"{"budget": 0, "window": 10}"#);
        let scenario = Scenario::builder("wasm")
            .target(chaoskit::target("svc", ()))
            .step("call", |ctx, _| async move {
                ctx.maybe_delay().await;
                Ok::<_, ChaosError>(())
            })
            .inject("latency-spike", spike)
            .assert("error-budget", budget)
            .repeat(40)
            .seed(3)
            .build()
            .unwrap();
        let report = chaoskit::run(scenario).await.unwrap();
        assert_eq!(report.verdict, Verdict::Pass, "{:?}", report.reasons);
        assert_eq!(report.iterations.passed, 40);
        let spike = &report.injectors[0];
        assert_eq!(spike.label, "latency-spike");
        assert_eq!(spike.injections.values().sum::<u64>(), 8, "{:?}", spike.injections);
        assert_eq!(report.validators[0].violations, 0);
    }

    #[test]
    fn the_order_check_fixture_fails_an_iteration_seen_out_of_order() {
        let check = validator(artifacts::FIXTURE_ORDER_CHECK, r#"{"expect": 3}"#);
        assert!(check.check(&outcome(0, true, Duration::ZERO, &[])).is_ok());
        let late = check.check(&outcome(2, true, Duration::ZERO, &[])).unwrap_err();
        assert_eq!(late.message, "saw iteration 2 after 0");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_stateful_validator_plugin_sees_iterations_in_order_at_concurrency_4() {
        let check = validator(artifacts::FIXTURE_ORDER_CHECK, r#"{"expect": 200}"#);
        let scenario = Scenario::builder("in order")
            .target(chaoskit::target("svc", ()))
            .step("call", |ctx, _| async move {
                // Iterations finish out of order: their lengths vary with the index.
                let spin = (ctx.iteration() * 7919) % 5;
                tokio::time::sleep(Duration::from_micros(50 * spin)).await;
                Ok::<_, ChaosError>(())
            })
            .assert("order-check", check)
            .concurrency(4)
            .repeat(200)
            .seed(4)
            .build()
            .unwrap();
        let report = chaoskit::run(scenario).await.unwrap();
        assert_eq!(report.validators[0].violations, 0, "{:?}", report.validators[0].first_violation);
        assert_eq!(report.validators[0].final_violation, None);
        assert_eq!(report.iterations.passed, 200);
    }

    #[tokio::test]
    async fn a_trapping_injector_never_fails_an_iteration() {
        let trap =
            host().load_injector(spec(artifacts::FIXTURE_MISBEHAVE).config(r#"{"mode": "trap", "every": 3}"#)).unwrap();
        let scenario = Scenario::builder("contained")
            .target(chaoskit::target("svc", ()))
            .step("call", |ctx, _| async move {
                // `Cancel` (the fixture's healthy answer) is not an error: the step succeeds.
                ctx.maybe_error()?;
                Ok::<_, ChaosError>(())
            })
            .inject("misbehave", trap)
            .repeat(30)
            .seed(1)
            .build()
            .unwrap();
        let report = chaoskit::run(scenario).await.unwrap();
        assert_eq!(report.iterations.passed, 30);
        let notes = &report.injectors[0].notes;
        assert!(
            notes.iter().any(|n| n.contains("decisions failed open") && n.contains("trapped in `decide`")),
            "{notes:?}"
        );
        assert!(notes.iter().any(|n| n.contains("disabled after 5 failures")), "{notes:?}");
    }

    #[tokio::test]
    async fn the_same_seed_replays_the_same_wasm_decisions() {
        async fn run(seed: u64) -> Vec<bool> {
            let flaky = injector(artifacts::FLAKY_DEPENDENCY, r#"{"start_rate": 0.5, "end_rate": 0.5}"#);
            let seen = Arc::new(Mutex::new(vec![false; 64]));
            let record = Arc::clone(&seen);
            let scenario = Scenario::builder("replay")
                .target(chaoskit::target("svc", ()))
                .step("call", move |ctx, _| {
                    let record = Arc::clone(&record);
                    async move {
                        let failed = ctx.decide(PointKind::Error, Some("db.query")) != Action::None;
                        record.lock().unwrap()[ctx.iteration() as usize] = failed;
                        Ok::<_, ChaosError>(())
                    }
                })
                .inject("flaky", flaky)
                .repeat(64)
                .seed(seed)
                .build()
                .unwrap();
            chaoskit::run(scenario).await.unwrap();
            seen.lock().unwrap().clone()
        }
        let first = run(11).await;
        assert_eq!(first, run(11).await);
        assert_ne!(first, run(12).await);
        let errors = first.iter().filter(|f| **f).count();
        assert!((16..=48).contains(&errors), "about half should fail, got {errors}");
    }
}

/// The epoch ticker is a thread owned by the host and its plugins: it stops with the last one.
#[test]
fn the_ticker_thread_stops_when_the_host_and_its_plugins_are_dropped() {
    fn tickers() -> usize {
        std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .flatten()
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "chaoskit-epoch")
                    })
                    .count()
            })
            .unwrap_or(0)
    }
    let _ = host();
    let before = tickers();
    let own = PluginHost::on_demand().unwrap();
    let plugin = own.load_injector(spec(artifacts::LATENCY_SPIKE).config(r#"{"period": 2, "burst": 1}"#)).unwrap();
    assert_eq!(tickers(), before + 1);
    drop(own);
    assert_eq!(tickers(), before + 1, "the plugin keeps the engine ticking");
    drop(plugin);
    wait_until("the ticker to stop", || tickers() == before);
}

/// A fixture built but never used would be dead weight: every fixture has a test above.
#[test]
fn every_fixture_is_exercised() {
    let source = include_str!("plugin.rs");
    macro_rules! used {
        ($name:ident) => {
            let konst = format!("artifacts::FIXTURE_{}", stringify!($name).to_uppercase());
            assert!(source.contains(&konst), "{konst} has no test");
        };
    }
    plugin_artifacts::foreach_fixture!(used);
}

/// Issue 13: a returned instance wakes a waiting worker only when one waits (no futex wake per
/// decision). With one instance and four workers, every decision still runs on it: none is
/// lost to a missed wake-up (that would starve a worker past its patience and skip decisions).
#[test]
fn workers_waiting_for_the_only_instance_are_woken_and_every_decision_runs() {
    let flaky = host()
        .load_injector(
            PluginSpec::new(artifacts::path(artifacts::FLAKY_DEPENDENCY))
                .config(r#"{"start_rate": 0.5, "end_rate": 0.5}"#)
                .limits(Limits::default().instances(1).decide_deadline(Duration::from_secs(2))),
        )
        .unwrap();
    let flaky = std::sync::Arc::new(flaky);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let flaky = std::sync::Arc::clone(&flaky);
            std::thread::spawn(move || {
                let ctx = chaoskit::ChaosContext::detached(7, w, [("flaky", flaky as std::sync::Arc<dyn Injector>)]);
                (0..300).filter(|_| !ctx.decide(PointKind::Error, None).is_none()).count()
            })
        })
        .collect();
    let injected: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(flaky.counter("flaky.decisions"), Some(1200), "every decision ran on the one instance");
    assert!(injected > 400 && injected < 800, "about half injected: {injected}");
    let hazard = flaky.replay_hazard().unwrap_or_default();
    assert!(!hazard.contains("found no instance"), "{hazard}");
}

//! Wasm plugins through the real host: loading, sandbox limits, each plugin's behaviour, hot
//! reload, and runs of the real executor. The plugins are built from `plugins/` by the
//! `plugin-artifacts` crate.

use chaoskit::plugin::{
    Compiler, Grant, Limits, LoadedPlugin, PluginError, PluginHost, PluginSpec, WasmInjector, WasmValidator, World,
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
        seed: 7,
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
        assert!(info.imports.iter().any(|i| i == "chaoskit:plugin/host@0.2.0"), "{:?}", info.imports);
        assert_eq!(info.exports, ["configure", "register-point", "decide", "message"]);
        // An SDK plugin imports only what `std` needs, so it runs on the lean linker (no
        // wasmtime-wasi, no move off the runtime); a `HashMap` in the SDK would import
        // `wasi:random` for its seed.
        assert!(!info.imports.iter().any(|i| i.starts_with("wasi:random")), "{:?}", info.imports);
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

    /// Winch (the default on x86-64) and Cranelift: the same limits hold and the same seed
    /// gives the same decisions, whichever compiler made the code.
    #[test]
    fn both_compilers_keep_the_limits_and_decide_the_same() {
        let mut sequences = Vec::new();
        for compiler in [Compiler::Winch, Compiler::Cranelift] {
            let host = PluginHost::builder().compiler(compiler).on_demand().build().unwrap();
            if cfg!(target_arch = "x86_64") {
                assert_eq!(host.compiler(), compiler);
            }
            let load = |artifact, config: &str, limits| {
                host.load_injector(spec(artifact).config(config).limits(limits))
                    .unwrap_or_else(|e| panic!("{compiler:?}: {e}"))
            };
            let cases = [
                (
                    r#"{"mode": "loop", "every": 2}"#,
                    relaxed().decide_deadline(Duration::from_millis(3)),
                    "ran past its 3ms deadline in `decide`",
                ),
                (r#"{"mode": "stack", "every": 2}"#, relaxed(), "overflowed its stack in `decide`"),
                (r#"{"mode": "grow", "every": 2}"#, relaxed().memory(8 << 20), "exceeded its memory limit in `decide`"),
            ];
            for (config, limits, note) in cases {
                assert_contained(&load(artifacts::FIXTURE_MISBEHAVE, config, limits), note);
            }
            let flaky = load(artifacts::FLAKY_DEPENDENCY, r#"{"start_rate": 0.5, "end_rate": 0.5}"#, relaxed());
            sequences.push((0..200).map(|i| decide(&flaky, PointKind::Error, i)).collect::<Vec<_>>());
        }
        assert!(sequences[0].iter().any(Action::is_none) && !sequences[0].iter().all(Action::is_none));
        assert_eq!(sequences[0], sequences[1], "Winch and Cranelift decide the same");
    }

    #[test]
    fn a_huge_string_result_is_refused() {
        let inj = misbehave(r#"{"mode": "huge", "every": 2}"#, relaxed());
        assert_contained(
            &inj,
            "returned a 16777216-byte message from `message`, over the limit `max_message` = 4096 bytes",
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

    mod http_fault {
        use super::*;
        use crate::rig::*;

        /// The exact number of 503s seed 7 gives for 150 matching requests at rate 0.2 on one
        /// connection (the draws are the toxic's stream for connection 0): pinned, so a change
        /// to the draw path or the request parser shows.
        const EXPECTED_FAULTS: usize = EXPECTED_HTTP_FAULTS;

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn answers_the_seeded_share_of_matching_requests_and_keeps_the_connection_usable() {
            let (statuses, upstream_hits) = http_fault_run(7).await;
            let faults = statuses.iter().filter(|(_, s)| *s == 503).count();
            eprintln!("http-fault: {faults} of 150 matching requests answered 503 (rate 0.2, seed 7)");
            assert_eq!(faults, EXPECTED_FAULTS, "the seeded count changed");
            // Non-matching requests (POST bodies, /health) all reached the server.
            let others = statuses.iter().filter(|(m, _)| m != "GET /api/items").collect::<Vec<_>>();
            assert!(others.iter().all(|(_, s)| *s == 200), "{others:?}");
            // A faulted request never reaches the server; every other one does.
            assert_eq!(upstream_hits, statuses.len() - faults);
            // The same seed faults the same requests.
            let (again, _) = http_fault_run(7).await;
            assert_eq!(statuses, again);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn skips_a_faulted_chunked_body_whole() {
            let rig = Rig::new(7, &[artifacts::HTTP_FAULT]).await;
            let upstream = http_upstream().await;
            rig.proxy("web", upstream.addr).await;
            rig.add(
                "web",
                "fault",
                Stream::Upstream,
                "http_fault",
                json!({"path": "/api/*", "status": 500, "body": "no"}),
            )
            .await
            .unwrap();
            let mut s = tokio::net::TcpStream::connect(rig.listen("web").await).await.unwrap();
            let chunked = "POST /api/upload HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
            // Split mid-head and mid-body: the filter follows the framing across chunks.
            for part in [&chunked[..20], &chunked[20..70], &chunked[70..]] {
                s.write_all(part.as_bytes()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let first = read_response(&mut s).await;
            assert!(first.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{first}");
            assert!(first.ends_with("\r\n\r\nno"), "{first}");
            s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
            let second = read_response(&mut s).await;
            assert!(second.starts_with("HTTP/1.1 200 OK\r\n"), "{second}");
            assert_eq!(upstream.hits(), 1, "only /health reached the server");
            rig.shutdown().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn refuses_invalid_attributes_with_the_plugins_message() {
            let rig = Rig::new(7, &[artifacts::HTTP_FAULT]).await;
            rig.proxy("web", "127.0.0.1:9".parse().unwrap()).await;
            let err = rig.add("web", "f", Stream::Upstream, "http_fault", json!({"rate": 2})).await.unwrap_err();
            assert_eq!(err.status(), Some(400));
            assert_eq!(
                err.to_string(),
                "server answered 400: invalid attributes for toxic type `http_fault`: `rate` must be between 0 and 1, got 2"
            );
            let err = rig.add("web", "f", Stream::Upstream, "http_fault", json!({"rat": 1})).await.unwrap_err();
            assert!(err.to_string().contains("unknown field `rat`"), "{err}");
            assert!(rig.client.toxics("web").await.unwrap().is_empty());
            rig.shutdown().await;
        }
    }

    mod bit_flip {
        use super::*;
        use crate::rig::*;

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn corrupts_bytes_at_the_configured_rate_one_bit_each() {
            let rig = Rig::new(3, &[artifacts::BIT_FLIP]).await;
            rig.proxy("echo", echo_upstream().await).await;
            rig.add("echo", "flip", Stream::Downstream, "bit_flip", json!({"rate": 0.01, "after": 16})).await.unwrap();
            let sent = vec![0u8; 1 << 20];
            let back = echo_through(&rig.listen("echo").await, &sent).await;
            assert_eq!(back.len(), sent.len(), "corruption changes bytes, never the length");
            assert!(back[..16].iter().all(|b| *b == 0), "`after` leaves the start intact");
            let corrupted = back.iter().filter(|b| **b != 0).count();
            assert!(back.iter().all(|b| b.count_ones() <= 1), "each corrupted byte has one bit flipped");
            let rate = corrupted as f64 / back.len() as f64;
            eprintln!("bit-flip: {corrupted} of {} bytes corrupted, rate {rate:.5} (configured 0.01)", back.len());
            // ~10,486 expected; 6 standard deviations either side.
            assert!((9_900..=11_100).contains(&corrupted), "{corrupted} corrupted bytes");
            let stats = rig.registry.plugin_stats("bit_flip").unwrap();
            assert!(stats.fired > 0 && stats.failures == 0, "{stats:?}");
            rig.shutdown().await;
        }
    }

    mod redis_delay {
        use super::*;
        use crate::rig::*;

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn delays_write_commands_only_in_resp_and_inline_form() {
            let rig = Rig::new(1, &[artifacts::REDIS_DELAY]).await;
            rig.proxy("redis", echo_upstream().await).await;
            rig.add("redis", "slow-writes", Stream::Upstream, "redis_delay", json!({"delay_ms": 150})).await.unwrap();
            let mut s = tokio::net::TcpStream::connect(rig.listen("redis").await).await.unwrap();
            let delayed = Duration::from_millis(140);
            for (command, write) in [
                (&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"[..], false),
                (b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n", true),
                (b"GET k\r\n", false),
                (b"DEL k\r\n", true),
                (b"*1\r\n$4\r\nPING\r\n", false),
                (b"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n", true),
            ] {
                let took = round_trip(&mut s, command).await;
                let name = String::from_utf8_lossy(command).replace("\r\n", " ");
                if write {
                    assert!(took >= delayed, "`{name}` is a write, answered in {took:?}");
                } else {
                    assert!(took < delayed, "`{name}` is a read, held {took:?}");
                }
            }
            // A write whose name arrives split over two chunks is still held.
            let started = std::time::Instant::now();
            s.write_all(b"*3\r\n$3\r\nSE").await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.write_all(b"T\r\n$1\r\nk\r\n$1\r\nv\r\n").await.unwrap();
            let mut back = vec![0u8; 27];
            tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut back)).await.expect("no echo").unwrap();
            assert_eq!(back, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
            assert!(started.elapsed() >= delayed, "split SET held only {:?}", started.elapsed());
            rig.shutdown().await;
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

    mod fault_schedule {
        use super::*;

        fn load(dir: &Path) -> Result<WasmInjector, PluginError> {
            let grant = Grant::parse(&format!("fs:ro:{}=/schedules", dir.display())).unwrap();
            host().load_injector(spec(artifacts::FAULT_SCHEDULE).grant(grant))
        }

        #[test]
        fn injects_what_the_schedule_in_a_granted_directory_lists() {
            let dir = tempdir();
            std::fs::write(
                dir.path().join("faults.txt"),
                "# a schedule\n3 delay 25\nevery 10 error inventory service unavailable\n7 panic boom\n12 cancel\n",
            )
            .unwrap();
            let inj = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
            // One point per kind (a point's kind is fixed when it registers).
            let at = |id: u32, kind: PointKind, iteration: u64| {
                let mut rng = ChaCha8Rng::seed_from_u64(iteration);
                inj.decide(&point(id, kind, "site", iteration), &mut Draws::from_rng(&mut rng))
            };
            assert_eq!(at(0, PointKind::Delay, 3), Action::Delay(Duration::from_millis(25)));
            assert_eq!(at(0, PointKind::Delay, 4), Action::None);
            assert_eq!(at(1, PointKind::Error, 20), Action::Error("inventory service unavailable".into()));
            assert_eq!(at(1, PointKind::Error, 21), Action::None);
            assert_eq!(at(2, PointKind::Panic, 7), Action::Panic("boom".into()));
            assert_eq!(at(3, PointKind::Cancel, 12), Action::Cancel);
            assert!(inj.notes().iter().any(|n| n.contains("was granted `fs:ro:")), "{:?}", inj.notes());
        }

        #[test]
        fn without_the_grant_it_refuses_its_configuration_naming_the_grant() {
            let err = host().load_injector(spec(artifacts::FAULT_SCHEDULE)).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, PluginError::Config { .. }), "{text}");
            assert!(text.contains("cannot read the schedule `/schedules/faults.txt`"), "{text}");
            assert!(text.contains("grants = [\"fs:ro:./schedules=/schedules\"]"), "{text}");
        }

        #[test]
        fn a_bad_schedule_line_is_named_with_its_line_number() {
            let dir = tempdir();
            std::fs::write(dir.path().join("faults.txt"), "1 delay 5\n2 explode\n").unwrap();
            let err = load(dir.path()).unwrap_err().to_string();
            assert!(err.contains("/schedules/faults.txt:2: `2 explode`: unknown fault `explode`"), "{err}");
        }
    }

    mod demo_state_check {
        use super::*;
        use std::sync::{Arc, Mutex};

        fn load(port: u16, grants: &[&str]) -> WasmValidator {
            let mut spec = spec(artifacts::DEMO_STATE_CHECK)
                .config(serde_json::json!({ "service": format!("127.0.0.1:{port}"), "min_requests": 10 }).to_string());
            for g in grants {
                spec = spec.grant(Grant::parse(g).unwrap());
            }
            host().load_validator(spec).unwrap_or_else(|e| panic!("{e}"))
        }

        #[test]
        fn reads_the_service_through_the_granted_host_and_checks_its_invariants() {
            let stats = Arc::new(Mutex::new(r#"{"items": 5, "flaky": 4, "flaky_errors": 0}"#.to_string()));
            let port = stats_server(Arc::clone(&stats));
            let check = load(port, &[&format!("http:127.0.0.1:{port}")]);
            assert!(check.check(&outcome(0, true, Duration::ZERO, &[])).is_ok());
            *stats.lock().unwrap() = r#"{"items": 9, "flaky": 20, "flaky_errors": 1}"#.into();
            assert!(check.check(&outcome(1, true, Duration::ZERO, &[])).is_ok());
            *stats.lock().unwrap() = r#"{"items": 12, "flaky": 30, "flaky_errors": 9}"#.into();
            let over = check.check(&outcome(2, true, Duration::ZERO, &[])).unwrap_err();
            assert_eq!(over.message, "/api/flaky failed 9 of 30 requests (30.0%), over the 10.0% allowed");
            *stats.lock().unwrap() = r#"{"items": 1, "flaky": 30, "flaky_errors": 0}"#.into();
            let back = check.check(&outcome(3, true, Duration::ZERO, &[])).unwrap_err();
            assert!(back.message.contains("counters went backwards after iteration 3"), "{}", back.message);
            assert!(check.notes().iter().any(|n| n.contains("4 outgoing HTTP requests sent")), "{:?}", check.notes());
        }

        #[test]
        fn without_the_grant_every_check_fails_closed_naming_the_refusal() {
            let stats = Arc::new(Mutex::new(r#"{"items": 5, "flaky": 4, "flaky_errors": 0}"#.to_string()));
            let port = stats_server(stats);
            let check = load(port, &[]);
            let err = check.check(&outcome(0, true, Duration::ZERO, &[])).unwrap_err();
            assert_eq!(err.message, "cannot read the demo service's stats: ErrorCode::HttpRequestDenied");
            let notes = check.notes().join("\n");
            assert!(notes.contains(&format!("(add `http:127.0.0.1:{port}` to allow it)")), "{notes}");
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
/// A loopback HTTP server whose every answer is the current `body` (JSON, 200).
fn stats_server(body: std::sync::Arc<std::sync::Mutex<String>>) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" {
                    break;
                }
                line.clear();
            }
            let body = body.lock().unwrap().clone();
            let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = reader.get_mut().write_all(reply.as_bytes());
        }
    });
    port
}

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
                .contains("returned a 4985-byte message from `message`, over the limit `max_message` = 256 bytes")
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

/// Components with more memories than the SDKs build: a real plugin with core modules appended,
/// each `(module (memory N))` instantiated by the component. Hand-encoded because no Rust
/// source compiles to it; the bytes are the WAT in each comment.
mod memories {
    use super::*;

    fn leb(mut n: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { byte } else { byte | 0x80 });
            if n == 0 {
                break;
            }
        }
    }

    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u64, out);
        out.extend_from_slice(body);
    }

    /// Core modules defined at the component's top level (section id 1): the index the next
    /// one gets.
    fn top_level_modules(component: &[u8]) -> u64 {
        let (mut at, mut modules) = (8, 0);
        while at < component.len() {
            let id = component[at];
            let (mut len, mut shift, mut i) = (0u64, 0, at + 1);
            loop {
                let b = component[i];
                len |= u64::from(b & 0x7f) << shift;
                shift += 7;
                i += 1;
                if b < 0x80 {
                    break;
                }
            }
            modules += u64::from(id == 1);
            at = i + len as usize;
        }
        modules
    }

    /// `artifact` with one more core instance per entry of `pages`, each owning a memory of
    /// that many 64 KiB pages.
    fn with_memories(artifact: &'static str, pages: &[u64]) -> Vec<u8> {
        let mut component = std::fs::read(artifacts::path(artifact)).expect("fixture");
        let first = top_level_modules(&component);
        for (k, &n) in pages.iter().enumerate() {
            // (module (memory n))
            let mut memory = vec![1, 0x00];
            leb(n, &mut memory);
            let mut module = b"\0asm\x01\0\0\0".to_vec();
            section(5, &memory, &mut module);
            section(1, &module, &mut component);
            // (core instance (instantiate <that module>))
            let mut instance = vec![1, 0x00];
            leb(first + k as u64, &mut instance);
            instance.push(0);
            section(2, &instance, &mut component);
        }
        component
    }

    fn load(host: &PluginHost, bytes: &[u8], memory: usize) -> Result<WasmInjector, String> {
        let dir = tempdir();
        let path = dir.path().join("many-memories.wasm");
        std::fs::write(&path, bytes).unwrap();
        host.load_injector(
            PluginSpec::new(&path).config(r#"{"period": 5, "burst": 1}"#).limits(relaxed().memory(memory)),
        )
        .map_err(|e| e.to_string())
    }

    /// Was: each memory was compared with the limit alone, so a component of N memories held N
    /// times the limit.
    #[test]
    fn every_memory_of_an_instance_counts_against_one_memory_limit() {
        // 60 pages (3.75 MiB) fit a 4 MiB limit alone, not with the plugin's own memory.
        let bytes = with_memories(artifacts::LATENCY_SPIKE, &[60]);
        for (allocation, host) in
            [("pooling", PluginHost::new().unwrap()), ("on demand", PluginHost::on_demand().unwrap())]
        {
            let err = load(&host, &bytes, 4 << 20).expect_err(allocation);
            assert!(err.contains("many-memories.wasm"), "names the plugin: {err}");
            assert!(
                err.contains("exceeded its memory limit in `instantiate`") && err.contains("4194304 allowed"),
                "{allocation}: {err}"
            );
            // The same component fits a limit that covers both memories.
            load(&host, &bytes, 16 << 20).unwrap_or_else(|e| panic!("{allocation}: {e}"));
        }
    }

    /// Was: eight memories of one plugin drew eight slots from the engine's shared pool.
    #[test]
    fn a_component_with_eight_memories_is_refused_naming_the_limit() {
        let bytes = with_memories(artifacts::LATENCY_SPIKE, &[1; 7]);
        for (allocation, host) in
            [("pooling", PluginHost::new().unwrap()), ("on demand", PluginHost::on_demand().unwrap())]
        {
            let err = load(&host, &bytes, 64 << 20).expect_err(allocation);
            assert!(err.contains("many-memories.wasm"), "names the plugin: {err}");
            assert!(
                (err.contains("8 memories") || err.contains("8 Wasm linear memories"))
                    && err.contains("at most 2 memories"),
                "{allocation}: {err}"
            );
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

    /// Was: reload read the file whole, whatever it was: a symlink to `/dev/zero` filled
    /// memory, a FIFO blocked the reload thread (and with it the run's exit).
    #[cfg(unix)]
    #[test]
    fn a_reload_refuses_what_is_not_a_bounded_regular_file() {
        let dir = tempdir();
        let path = copy_to(dir.path(), artifacts::FIXTURE_VERSION_A, "plugin.wasm");
        let inj = host().load_injector(PluginSpec::new(&path).limits(relaxed())).unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        for (what, target) in [("/dev/zero", Path::new("/dev/zero")), ("a FIFO", fifo.as_path())] {
            std::fs::remove_file(&path).unwrap();
            std::os::unix::fs::symlink(target, &path).unwrap();
            let started = std::time::Instant::now();
            let err = inj.reload().expect_err(what).to_string();
            assert!(started.elapsed() < Duration::from_secs(5), "{what}: the reload waited");
            assert!(err.starts_with(&format!("cannot read plugin `{}`", path.display())), "{err}");
            assert!(err.contains("not a regular file"), "{what}: {err}");
            assert_eq!(decide(&inj, PointKind::Error, 1), Action::Error("version a".into()), "{what}");
        }
        // Over the size cap: refused from its size, not read.
        std::fs::remove_file(&path).unwrap();
        let big = std::fs::File::create(&path).unwrap();
        big.set_len(chaoskit::plugin::MAX_PLUGIN_FILE_BYTES + 1).unwrap();
        let err = inj.reload().expect_err("sparse giant").to_string();
        assert!(err.contains(&chaoskit::plugin::MAX_PLUGIN_FILE_BYTES.to_string()), "{err}");
        assert_eq!(inj.generation(), 0);
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

/// WASI through the host: each capability denied without its grant and working with it, path
/// escapes, the allow-list, and replays of plugins that use `wasi:random` and `wasi:clocks`.
mod wasi {
    use super::*;
    use chaoskit::{ChaosError, Scenario};
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// The probe fixture with `probe` and `grants`.
    fn probe(probe: &str, grants: &[&str]) -> WasmInjector {
        let mut spec = spec(artifacts::FIXTURE_WASI_PROBE).config(serde_json::json!({ "probe": probe }).to_string());
        for g in grants {
            spec = spec.grant(Grant::parse(g).unwrap_or_else(|e| panic!("{e}")));
        }
        host().load_injector(spec).unwrap_or_else(|e| panic!("{e}"))
    }

    /// What the probe answered at iteration `i`.
    fn ask(inj: &WasmInjector, i: u64) -> String {
        match decide(inj, PointKind::Error, i) {
            Action::Error(m) => m,
            other => panic!("the probe answers with an error action, got {other:?}; notes: {:?}", inj.notes()),
        }
    }

    /// A loopback server answering every connection with `reply` (after the request's head).
    fn server(reply: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                // A request head ends with an empty line; the TCP probe sends one line.
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" || line == "ping\n" {
                        break;
                    }
                    line.clear();
                }
                let _ = reader.get_mut().write_all(reply.as_bytes());
            }
        });
        port
    }

    const HTTP_OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";

    #[test]
    fn a_component_importing_wasi_loads_with_no_grants_and_reaches_nothing() {
        assert!(ask(&probe("read:/etc/hostname", &[]), 0).starts_with("err: "), "no directories");
        assert!(ask(&probe("list:/", &[]), 0).starts_with("err: "), "no root either");
        assert!(ask(&probe("env:PATH", &[]), 0).starts_with("err: "), "an empty environment");
        assert!(ask(&probe("write:/x", &[]), 0).starts_with("err: "));
    }

    #[test]
    fn the_filesystem_is_denied_without_a_grant_read_only_with_ro_and_writable_with_rw() {
        let dir = tempdir();
        std::fs::write(dir.path().join("schedule.txt"), "every 3rd").unwrap();
        let ro = format!("fs:ro:{}=/data", dir.path().display());
        let rw = format!("fs:rw:{}=/data", dir.path().display());
        assert!(ask(&probe("read:/data/schedule.txt", &[]), 0).starts_with("err: "));
        assert_eq!(ask(&probe("read:/data/schedule.txt", &[&ro]), 0), "ok: every 3rd");
        assert_eq!(ask(&probe("list:/data", &[&ro]), 0), "ok: schedule.txt");
        let denied = ask(&probe("write:/data/out.txt", &[&ro]), 0);
        assert!(denied.starts_with("err: "), "read-only: {denied}");
        assert!(!dir.path().join("out.txt").exists());
        assert_eq!(ask(&probe("write:/data/out.txt", &[&rw]), 0), "ok: written");
        assert_eq!(std::fs::read_to_string(dir.path().join("out.txt")).unwrap(), "written by the probe");
    }

    #[test]
    fn path_escapes_are_refused() {
        let root = tempdir();
        let granted = root.path().join("granted");
        std::fs::create_dir(&granted).unwrap();
        std::fs::write(root.path().join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(root.path().join("secret.txt"), granted.join("link")).unwrap();
        std::os::unix::fs::symlink("/etc", granted.join("etc")).unwrap();
        let grant = format!("fs:rw:{}=/data", granted.display());
        for escape in [
            "read:/data/../secret.txt",
            "read:/data/link",
            "read:/data/etc/hostname",
            &format!("read:{}", root.path().join("secret.txt").display()),
            "write:/data/../planted.txt",
            "list:/data/..",
        ] {
            let answer = ask(&probe(escape, &[&grant]), 0);
            assert!(answer.starts_with("err: "), "{escape} must be refused: {answer}");
            assert!(!answer.contains("secret"), "{escape}: {answer}");
        }
        assert!(!root.path().join("planted.txt").exists());
    }

    #[test]
    fn environment_variables_are_only_those_named() {
        assert!(ask(&probe("env:CHAOSKIT_PROBE", &[]), 0).starts_with("err: "));
        assert_eq!(ask(&probe("env:CHAOSKIT_PROBE", &["env:CHAOSKIT_PROBE=hello"]), 0), "ok: hello");
        assert!(ask(&probe("env:OTHER", &["env:CHAOSKIT_PROBE=hello"]), 0).starts_with("err: "));
        let err = host()
            .load_injector(
                spec(artifacts::FIXTURE_WASI_PROBE)
                    .config(r#"{"probe": "env:X"}"#)
                    .grant(Grant::parse("env:CHAOSKIT_SURELY_UNSET_VARIABLE").unwrap()),
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("the host has no variable `CHAOSKIT_SURELY_UNSET_VARIABLE` to pass on"),
            "{err}"
        );
    }

    /// Descriptors this test process holds (the plugin runs in it).
    fn open_descriptors() -> usize {
        std::fs::read_dir("/proc/self/fd").map(|d| d.count()).expect("/proc/self/fd")
    }

    #[test]
    fn no_socket_is_created_without_a_grant_and_a_grant_is_capped_at_max_sockets() {
        // 50 sockets asked for per decision and kept, five decisions: 250 descriptors if the
        // host created them. Other tests of this binary open files at the same time, hence
        // the margin.
        let hoarder = probe("sockets:50", &[]);
        let before = open_descriptors();
        for i in 0..5 {
            let answer = ask(&hoarder, i);
            assert!(answer.starts_with("err: after 0 of 50: "), "{answer}");
        }
        let grown = open_descriptors().saturating_sub(before);
        assert!(grown < 40, "{grown} descriptors more after 250 refused sockets");
        let notes = hoarder.notes().join("\n");
        assert!(notes.contains("plugin `probe`") || notes.contains("a TCP socket was refused"), "{notes}");

        let granted = probe("sockets:50", &["tcp:127.0.0.1:1"]);
        let answer = ask(&granted, 0);
        assert!(answer.starts_with("err: after 16 of 50: "), "capped at the default max_sockets: {answer}");
        assert!(ask(&granted, 1).starts_with("err: after 0 of 50: "), "still capped on the next decision");
        let notes = granted.notes().join("\n");
        assert!(notes.contains("over the limit `max_sockets` = 16"), "{notes}");
    }

    #[test]
    fn tcp_is_refused_without_a_grant_and_reaches_only_the_allowed_address() {
        let port = server("pong");
        let target = format!("tcp:127.0.0.1:{port}");
        let denied = probe(&target, &[]);
        assert!(ask(&denied, 0).starts_with("err: "));
        let notes = denied.notes().join("\n");
        assert!(notes.contains("a TCP socket was refused: no `tcp:` grant"), "{notes}");
        let other_port = probe(&target, &["tcp:127.0.0.1:1"]);
        assert!(ask(&other_port, 0).starts_with("err: "));
        let allowed = probe(&target, &[&target]);
        assert_eq!(ask(&allowed, 0), "ok: pong");
        assert!(
            allowed.notes().iter().any(|n| n.contains(&format!("was granted `{target}`"))),
            "{:?}",
            allowed.notes()
        );
    }

    #[test]
    fn http_is_refused_outside_the_allow_list_and_sent_within_it() {
        let port = server(HTTP_OK);
        let target = format!("http:127.0.0.1:{port}/state");
        let denied = probe(&target, &[]);
        let answer = ask(&denied, 0);
        assert!(answer.starts_with("err: ") && answer.contains("HttpRequestDenied"), "{answer}");
        let notes = denied.notes().join("\n");
        assert!(
            notes.contains(&format!(
                "an HTTP request to `127.0.0.1:{port}` matches no grant (add `http:127.0.0.1:{port}` to allow it)"
            )),
            "{notes}"
        );
        let elsewhere = probe(&target, &["http:127.0.0.1:1", "http:localhost:*"]);
        assert!(ask(&elsewhere, 0).contains("HttpRequestDenied"), "another host is outside the list");
        let allowed = probe(&target, &[&format!("http:127.0.0.1:{port}")]);
        assert_eq!(ask(&allowed, 0), "ok: 200 hello");
        assert_eq!(ask(&allowed, 1), "ok: 200 hello");
        assert!(allowed.notes().iter().any(|n| n.contains("2 outgoing HTTP requests sent")), "{:?}", allowed.notes());
    }

    /// Was: any `tcp:` grant turned on lookups of every name (a channel out of the sandbox).
    #[test]
    fn names_are_looked_up_only_when_a_grant_names_them() {
        assert!(ask(&probe("dns:localhost", &[]), 0).starts_with("err: "), "no grant, no lookup");
        let other = probe("dns:localhost", &["tcp:127.0.0.1:1"]);
        assert!(ask(&other, 0).starts_with("err: "), "a grant for an address is not a grant for a name");
        assert_eq!(ask(&probe("dns:localhost", &["tcp:localhost:1"]), 0), "ok: resolving");
    }

    /// Was: `http:[::1]:PORT` reached `connect` with its brackets and could never connect.
    #[test]
    fn an_http_grant_for_the_ipv6_loopback_connects() {
        let Ok(listener) = TcpListener::bind("[::1]:0") else {
            eprintln!("no IPv6 loopback on this machine: skipped");
            return;
        };
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let _ = reader.get_mut().write_all(HTTP_OK.as_bytes());
            }
        });
        let target = format!("http:[::1]:{port}/state");
        let allowed = probe(&target, &[&format!("http:[::1]:{port}")]);
        assert_eq!(ask(&allowed, 0), "ok: 200 hello", "{:?}", allowed.notes());
    }

    /// A loopback peer that reads the request, answers with `first` (maybe nothing), then
    /// holds the connection open without another byte.
    fn stalled_peer(first: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" || line == "ping\n" {
                        break;
                    }
                    line.clear();
                }
                let _ = reader.get_mut().write_all(first.as_bytes());
                held.push(reader);
            }
        });
        port
    }

    /// Each way a granted peer can stall a plugin inside a host call (no response, a body
    /// that stops after its first bytes, a TCP peer that never replies nor closes) ends the
    /// call at its deadline: the decision fails as past its deadline, the cut is counted, and
    /// the next decision runs on a fresh instance.
    #[test]
    fn a_stalled_peer_ends_the_call_at_its_deadline() {
        let cases = [
            ("http", "no response", stalled_peer("")),
            ("http", "a stalled body", stalled_peer("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello")),
            ("tcp", "a silent TCP peer", stalled_peer("")),
        ];
        for (kind, what, port) in cases {
            let target =
                if kind == "http" { format!("http:127.0.0.1:{port}/") } else { format!("tcp:127.0.0.1:{port}") };
            let limits = relaxed().decide_deadline(Duration::from_millis(150));
            let stalled = host()
                .load_injector(
                    spec(artifacts::FIXTURE_WASI_PROBE)
                        .config(serde_json::json!({ "probe": target }).to_string())
                        .limits(limits)
                        .grant(Grant::parse(&format!("{kind}:127.0.0.1:{port}")).unwrap()),
                )
                .unwrap();
            let stalled = std::sync::Arc::new(stalled);
            for i in 0..2 {
                // On a thread, so that a call the deadline does not end fails the test
                // instead of hanging it. Generous: the bound is the deadline (150 ms).
                let (tx, rx) = std::sync::mpsc::channel();
                let injector = std::sync::Arc::clone(&stalled);
                std::thread::spawn(move || tx.send(decide(&*injector, PointKind::Error, i)));
                let action = rx
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_else(|_| panic!("{what}: the call still waits on its peer after 5 s"));
                assert_eq!(action, Action::None, "{what}: a failed decision injects nothing");
            }
            let notes = stalled.notes().join("\n");
            assert!(notes.contains("ran past its 150ms deadline in `decide`"), "{what}: {notes}");
            assert!(notes.contains("2 waits on I/O cut at the call's deadline"), "{what}: {notes}");
        }
    }

    /// Messages travel by id: the SDK gives the first 1024 distinct texts stable ids (fetched
    /// once, then kept by the host) and later ones one-off ids (fetched every time); every
    /// decision still carries its own text.
    #[test]
    fn error_messages_arrive_whole_through_stable_and_one_off_ids() {
        let inj = probe("iteration", &[]);
        for i in 0..1100 {
            assert_eq!(ask(&inj, i), format!("iteration {i}"));
        }
        assert_eq!(ask(&inj, 5), "iteration 5", "a stable id's text, kept by the host");
        assert_eq!(ask(&inj, 1099), "iteration 1099", "the same text past the stable ids: a new one-off id");
        assert_eq!(inj.failures(), 0);
    }

    #[test]
    fn randomness_is_the_seeded_stream_unless_os_randomness_is_granted() {
        let a = probe("random", &[]);
        let b = probe("random", &[]);
        assert_eq!(ask(&a, 5), ask(&b, 5), "same seed and iteration, same draws");
        assert_ne!(ask(&a, 5), ask(&a, 6), "another iteration, another stream");
        assert!(a.replay_hazard().is_none());
        let os = probe("random", &["random:os"]);
        assert_ne!(ask(&os, 5), ask(&os, 5), "the OS gives fresh bytes each time");
        let hazard = os.replay_hazard().unwrap();
        assert!(
            hazard.contains("draws `wasi:random` from the OS (grant `random:os`): this run cannot be replayed"),
            "{hazard}"
        );
    }

    #[test]
    fn clocks_are_virtual_unless_the_wall_clock_is_granted() {
        let read = |inj: &WasmInjector, i| -> (u128, u64) {
            let answer = ask(inj, i);
            let mut parts = answer.trim_start_matches("ok: ").split(' ');
            (parts.next().unwrap().parse().unwrap(), parts.next().unwrap().parse().unwrap())
        };
        let virtual_clock = probe("clock", &[]);
        let (wall, mono) = read(&virtual_clock, 3);
        assert_eq!((wall, mono), read(&virtual_clock, 3), "the same call reads the same times");
        assert_eq!(mono, 3_000_002_000, "iteration 3 starts at 3 s; each read is 1 µs later");
        assert_eq!(wall, (1_735_689_600 * 1_000_000_000) + 3_000_001_000, "2025-01-01 plus the iteration's time");
        let wall_clock = probe("clock", &["clocks:wall"]);
        let (wall, _) = read(&wall_clock, 3);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        assert!(now.abs_diff(wall) < 60_000_000_000, "the host's clock: {wall} vs {now}");
        assert!(wall_clock.replay_hazard().unwrap().contains("grant `clocks:wall`"));
    }

    fn mix_run(concurrency: usize, grants: &[&str]) -> Scenario<chaoskit::NamedTarget<()>> {
        Scenario::builder("wasi mix")
            .target(chaoskit::target("svc", ()))
            .step("call", |ctx, _| async move {
                // Iterations finish out of order.
                tokio::time::sleep(Duration::from_micros(30 * (ctx.iteration() % 4))).await;
                ctx.maybe_error()?;
                Ok::<_, ChaosError>(())
            })
            .inject("mix", probe("mix", grants))
            .continue_on_failure()
            .concurrency(concurrency)
            .repeat(60)
            .seed(11)
            .build()
            .unwrap()
    }

    /// The journal's records without their wall-clock timings.
    fn decisions(report: &chaoskit::Report) -> String {
        let mut failures = report.failures.clone();
        failures.sort_by_key(|f| f.index);
        for f in &mut failures {
            f.start_us = 0;
            f.duration_us = 0;
        }
        serde_json::to_string_pretty(&failures).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_plugin_using_wasi_random_and_clocks_journals_the_same_at_concurrency_1_and_4() {
        let one = chaoskit::run(mix_run(1, &[])).await.unwrap();
        let four = chaoskit::run(mix_run(4, &[])).await.unwrap();
        assert!(one.failures.len() >= 5, "the plugin fired: {}", one.failures.len());
        assert!(decisions(&one).contains("mix "), "{}", decisions(&one));
        assert_eq!(decisions(&one), decisions(&four), "byte-identical decision records");
        assert!(one.replay_hazards.is_empty() && four.replay_hazards.is_empty(), "{:?}", one.replay_hazards);
    }

    #[tokio::test]
    async fn the_os_randomness_grant_is_reported_as_making_the_run_non_replayable() {
        let report = chaoskit::run(mix_run(1, &["random:os"])).await.unwrap();
        assert!(
            report.replay_hazards.iter().any(|h| h.contains("injector `mix`: plugin `fixture_wasi_probe` draws `wasi:random` from the OS (grant `random:os`): this run cannot be replayed from its seed")),
            "{:?}",
            report.replay_hazards
        );
        let text = report.to_text();
        assert!(text.contains("cannot be replayed"), "{text}");
        assert!(report.to_json().contains("was granted `random:os`"), "the grant is in the journal's notes");
    }

    #[test]
    fn inspect_shows_each_wasi_import_with_its_default_and_grant() {
        let info = host().inspect(artifacts::path(artifacts::FIXTURE_WASI_PROBE)).unwrap();
        let find = |prefix: &str| {
            info.provisions
                .iter()
                .find(|p| p.import.starts_with(prefix))
                .unwrap_or_else(|| panic!("{prefix}: {info:?}"))
        };
        assert_eq!(find("wasi:random/random@").default, "virtual: the plugin's seeded stream (replays)");
        assert_eq!(find("wasi:random/random@").grant.as_deref(), Some("random:os"));
        assert_eq!(find("wasi:clocks/monotonic-clock@").grant.as_deref(), Some("clocks:wall"));
        assert_eq!(find("wasi:filesystem/preopens@").default, "empty: no directories");
        assert_eq!(find("wasi:http/outgoing-handler@").default, "denied per call");
        assert_eq!(find("wasi:http/outgoing-handler@").grant.as_deref(), Some("http:HOST:PORT"));
        assert_eq!(find("wasi:sockets/tcp@").grant.as_deref(), Some("tcp:HOST:PORT"));
        assert_eq!(find("wasi:cli/environment@").grant.as_deref(), Some("env:NAME"));
        assert_eq!(find("chaoskit:plugin/types@").default, "the host interface");
    }

    #[test]
    fn a_missing_granted_directory_is_refused_at_load() {
        let err = host()
            .load_injector(
                spec(artifacts::FIXTURE_WASI_PROBE)
                    .config(r#"{"probe": "list:/"}"#)
                    .grant(Grant::parse("fs:ro:/surely/not/here=/data").unwrap()),
            )
            .unwrap_err();
        assert!(matches!(err, PluginError::Grant { .. }), "{err:?}");
        assert!(
            err.to_string().ends_with("grant `fs:ro:/surely/not/here=/data`: `/surely/not/here` is not a directory"),
            "{err}"
        );
    }
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

/// A proxy API server with toxic plugins, an HTTP upstream and a real HTTP/1.1 client, shared by
/// the toxic plugins' tests.
mod rig {
    pub(crate) use super::*;
    pub(crate) use chaoskit::proxy::{Client, Proxy, ProxyRegistry, ProxyServer, Stream, Toxic, ToxicKind};
    pub(crate) use serde_json::json;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    pub(crate) use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// See `plugins::http_fault::EXPECTED_FAULTS`.
    pub(crate) const EXPECTED_HTTP_FAULTS: usize = 29;

    pub(crate) struct Rig {
        pub(crate) registry: ProxyRegistry,
        pub(crate) server: ProxyServer,
        pub(crate) client: Client,
    }

    /// Loads a toxic plugin with relaxed limits; its type name is the file stem.
    pub(crate) fn toxic(artifact: &'static str) -> chaoskit::plugin::WasmToxic {
        host().load_toxic(spec(artifact)).unwrap_or_else(|e| panic!("{e}"))
    }

    impl Rig {
        pub(crate) async fn new(seed: u64, plugins: &[&'static str]) -> Rig {
            Self::with(seed, plugins.iter().map(|a| Arc::new(toxic(a)) as Arc<dyn chaoskit::proxy::ToxicPlugin>)).await
        }

        pub(crate) async fn with(
            seed: u64,
            plugins: impl IntoIterator<Item = Arc<dyn chaoskit::proxy::ToxicPlugin>>,
        ) -> Rig {
            let mut builder = ProxyRegistry::builder().seed(seed);
            for p in plugins {
                builder = builder.toxic_plugin(p);
            }
            let registry = builder.build();
            let server = ProxyServer::start("127.0.0.1:0", registry.clone()).await.unwrap();
            let client = Client::new(&server.url()).unwrap();
            Rig { registry, server, client }
        }

        pub(crate) async fn proxy(&self, name: &str, upstream: SocketAddr) {
            self.client.create_proxy(&Proxy::new(name, "127.0.0.1:0", upstream.to_string())).await.unwrap();
        }

        pub(crate) async fn listen(&self, name: &str) -> String {
            self.client.proxy(name).await.unwrap().listen
        }

        /// Adds a plugin toxic through the HTTP API.
        pub(crate) async fn add(
            &self,
            proxy: &str,
            name: &str,
            stream: Stream,
            type_name: &str,
            attributes: serde_json::Value,
        ) -> Result<Toxic, chaoskit::proxy::ClientError> {
            let serde_json::Value::Object(attributes) = attributes else { panic!("attributes are an object") };
            let kind = ToxicKind::Other { type_name: type_name.into(), attributes };
            self.client.add_toxic(proxy, &Toxic::new(name, stream, kind)).await
        }

        pub(crate) async fn shutdown(self) {
            self.server.shutdown().await.unwrap();
        }
    }

    /// An upstream that echoes every byte.
    pub(crate) async fn echo_upstream() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                    let _ = w.shutdown().await;
                });
            }
        });
        addr
    }

    /// Sends `data` through the proxy at `listen` to an echo upstream and reads as much back.
    pub(crate) async fn echo_through(listen: &str, data: &[u8]) -> Vec<u8> {
        let s = tokio::net::TcpStream::connect(listen).await.unwrap();
        let (mut r, mut w) = s.into_split();
        let out = data.to_vec();
        let writer = tokio::spawn(async move { w.write_all(&out).await.unwrap() });
        let mut back = vec![0u8; data.len()];
        tokio::time::timeout(Duration::from_secs(20), r.read_exact(&mut back)).await.expect("echo timed out").unwrap();
        writer.await.unwrap();
        back
    }

    pub(crate) async fn round_trip(s: &mut tokio::net::TcpStream, msg: &[u8]) -> Duration {
        let started = std::time::Instant::now();
        s.write_all(msg).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut back)).await.expect("echo timed out").unwrap();
        assert_eq!(back, msg);
        started.elapsed()
    }

    /// An HTTP server: `/api/*` answers 200 with the request body's length, `/health` 200 `ok`;
    /// counts the requests it received.
    pub(crate) struct HttpUpstream {
        pub(crate) addr: SocketAddr,
        hits: Arc<AtomicUsize>,
    }

    impl HttpUpstream {
        pub(crate) fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    pub(crate) async fn http_upstream() -> HttpUpstream {
        use axum::routing::{any, get};
        let hits = Arc::new(AtomicUsize::new(0));
        let (h1, h2) = (hits.clone(), hits.clone());
        let app = axum::Router::new()
            .route(
                "/api/{*rest}",
                any(move |body: axum::body::Bytes| {
                    let h = h1.clone();
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        format!("len={}", body.len())
                    }
                }),
            )
            .route(
                "/health",
                get(move || {
                    let h = h2.clone();
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        "ok"
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        HttpUpstream { addr, hits }
    }

    /// Reads one response with a `content-length` body from a raw socket.
    pub(crate) async fn read_response(s: &mut tokio::net::TcpStream) -> String {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        let read = async {
            while !buf.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut byte).await.unwrap();
                buf.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            s.read_exact(&mut body).await.unwrap();
            buf.extend_from_slice(&body);
        };
        tokio::time::timeout(Duration::from_secs(10), read).await.expect("no response");
        String::from_utf8(buf).unwrap()
    }

    /// 300 requests on one keep-alive connection of a real HTTP/1.1 client (hyper) through an
    /// `http_fault` toxic (`GET /api/*`, rate 0.2): 150 matching GETs, 100 POSTs with a
    /// 3000-byte body (not matching: bodies must be framed right), 50 `GET /health`. Returns
    /// each request's kind and status, and how many reached the server.
    pub(crate) async fn http_fault_run(seed: u64) -> (Vec<(String, u16)>, usize) {
        use http_body_util::{BodyExt, Full};
        let rig = Rig::new(seed, &[artifacts::HTTP_FAULT]).await;
        let upstream = http_upstream().await;
        rig.proxy("web", upstream.addr).await;
        let attributes = json!({"rate": 0.2, "method": "GET", "path": "/api/*", "status": 503, "body": "chaos"});
        rig.add("web", "fault", Stream::Upstream, "http_fault", attributes).await.unwrap();
        let stream = tokio::net::TcpStream::connect(rig.listen("web").await).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
        let connection = tokio::spawn(conn);
        let mut statuses = Vec::new();
        for i in 0..300 {
            let (kind, req) = match i % 6 {
                0 | 2 | 4 => ("GET /api/items", hyper::Request::get("/api/items").body(Full::default())),
                1 | 5 => (
                    "POST /api/items",
                    hyper::Request::post("/api/items").body(Full::new(bytes::Bytes::from(vec![b'x'; 3000]))),
                ),
                _ => ("GET /health", hyper::Request::get("/health").body(Full::default())),
            };
            let req = req.map(|mut r| {
                r.headers_mut().insert("host", "web".parse().unwrap());
                r
            });
            sender.ready().await.expect("the keep-alive connection stays usable");
            let resp = sender.send_request(req.unwrap()).await.expect("a response on the same connection");
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            match (kind, status) {
                (_, 503) => assert_eq!(&body[..], b"chaos"),
                ("POST /api/items", 200) => assert_eq!(&body[..], b"len=3000"),
                ("GET /api/items", 200) => assert_eq!(&body[..], b"len=0"),
                ("GET /health", 200) => assert_eq!(&body[..], b"ok"),
                other => panic!("unexpected {other:?}"),
            }
            statuses.push((kind.to_string(), status));
        }
        assert!(!connection.is_finished(), "one connection served every request");
        drop(sender);
        let hits = upstream.hits();
        rig.shutdown().await;
        (statuses, hits)
    }
}

/// Toxic plugins in the proxy: failing filters fail open, the 0.1.0 contract still loads, hot
/// reload reaches new connections only, decisions are journaled.
mod toxics {
    use crate::rig::*;

    fn misbehave(limits: Limits) -> std::sync::Arc<dyn chaoskit::proxy::ToxicPlugin> {
        std::sync::Arc::new(
            host()
                .load_toxic(
                    PluginSpec::new(artifacts::path(artifacts::FIXTURE_TOXIC_MISBEHAVE))
                        .named("toxic_misbehave")
                        .limits(limits),
                )
                .unwrap(),
        )
    }

    async fn fails_open(mode: &str, limits: Limits) {
        let rig = Rig::with(5, [misbehave(limits)]).await;
        rig.proxy("echo", echo_upstream().await).await;
        rig.add("echo", "bad", Stream::Downstream, "toxic_misbehave", json!({"mode": mode, "after": 2})).await.unwrap();
        let listen = rig.listen("echo").await;
        let mut s = tokio::net::TcpStream::connect(&listen).await.unwrap();
        for i in 0..10u8 {
            // Chunks 1 and 2 pass through the filter; chunk 3 makes it fail; all come back intact.
            round_trip(&mut s, &[i; 100]).await;
        }
        // The proxy goes on serving: a new connection (whose filter fails in turn) echoes too.
        let mut t = tokio::net::TcpStream::connect(&listen).await.unwrap();
        for i in 0..4u8 {
            round_trip(&mut t, &[i; 10]).await;
        }
        let stats = rig.registry.plugin_stats("toxic_misbehave").unwrap();
        assert_eq!(stats.failures, 2, "one failure per connection, then it passes: {stats:?}");
        assert_eq!(stats.connections, 2);
        let notes = rig.registry.plugin_notes();
        assert!(notes.iter().any(|n| n.contains("2 filter calls failed open")), "{notes:?}");
        rig.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_trapping_filter_leaves_the_bytes_intact_and_the_proxy_serving() {
        fails_open("trap", relaxed()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_endless_filter_is_interrupted_and_fails_open() {
        fails_open("loop", relaxed().decide_deadline(Duration::from_millis(20))).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_oversized_insert_fails_open_naming_the_limit() {
        fails_open("huge", relaxed().max_insert(1 << 20)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refusal_reaches_the_client_escaped() {
        let rig = Rig::with(5, [misbehave(relaxed())]).await;
        rig.proxy("echo", echo_upstream().await).await;
        let err =
            rig.add("echo", "bad", Stream::Downstream, "toxic_misbehave", json!({"mode": "refuse"})).await.unwrap_err();
        assert_eq!(err.status(), Some(400));
        let message = err.to_string();
        assert!(message.contains(r"refused: \e[31mred\e[0m mode"), "{message}");
        assert!(!message.contains('\u{1b}'), "no raw escape reaches a terminal: {message:?}");
        rig.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_plugin_toxic_can_be_updated_and_removed_like_a_built_in_one() {
        let rig = Rig::new(5, &[artifacts::BIT_FLIP]).await;
        rig.proxy("echo", echo_upstream().await).await;
        rig.add("echo", "flip", Stream::Downstream, "bit_flip", json!({"rate": 1.0})).await.unwrap();
        let listen = rig.listen("echo").await;
        let shown = rig.client.toxic("echo", "flip").await.unwrap();
        assert_eq!(shown.kind.type_name(), "bit_flip");
        assert_ne!(echo_through(&listen, &[0u8; 64]).await, vec![0u8; 64]);
        let update = chaoskit::proxy::ToxicUpdate::new().attribute("rate", 0);
        rig.client.update_toxic("echo", "flip", &update).await.unwrap();
        assert_eq!(echo_through(&listen, &[0u8; 64]).await, vec![0u8; 64]);
        let refused =
            rig.client.update_toxic("echo", "flip", &chaoskit::proxy::ToxicUpdate::new().attribute("rate", 3)).await;
        assert_eq!(refused.unwrap_err().status(), Some(400));
        rig.client.remove_toxic("echo", "flip").await.unwrap();
        assert_eq!(echo_through(&listen, &[0u8; 64]).await, vec![0u8; 64]);
        // A type no plugin implements is still refused.
        let err = rig.add("echo", "x", Stream::Downstream, "nope", json!({})).await.unwrap_err();
        assert_eq!(err.to_string(), "server answered 400: invalid toxic type");
        rig.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fired_decisions_are_journaled_with_the_toxic_and_connection() {
        let log = chaoskit::chaos::DecisionLog::new();
        let registry = ProxyRegistry::builder()
            .seed(9)
            .decisions(log.clone())
            .toxic_plugin(std::sync::Arc::new(toxic(artifacts::BIT_FLIP)))
            .build();
        let upstream = echo_upstream().await;
        let p = registry.create(Proxy::new("echo", "127.0.0.1:0", upstream.to_string())).await.unwrap();
        let mut attributes = serde_json::Map::new();
        attributes.insert("rate".into(), json!(1.0));
        let kind = ToxicKind::Other { type_name: "bit_flip".into(), attributes };
        registry.add_toxic("echo", Toxic::new("flip", Stream::Downstream, kind)).await.unwrap();
        echo_through(&p.listen, b"abc").await;
        let logged = log.drain();
        let record = logged.records.iter().find(|r| r.point == "flip").expect("the filter decision is journaled");
        assert_eq!(record.injector, "proxy echo");
        assert_eq!(record.scope.as_deref(), Some("downstream"));
        assert_eq!(record.occurrence, 0);
        registry.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hot_reload_reaches_new_connections_while_open_ones_finish_on_the_old_version() {
        let dir = tempdir();
        let path = copy_to(dir.path(), artifacts::FIXTURE_TOXIC_MISBEHAVE, "swap.wasm");
        let toxic =
            std::sync::Arc::new(host().load_toxic(PluginSpec::new(&path).limits(relaxed()).watch(true)).unwrap());
        let rig = Rig::with(2, [toxic.clone() as std::sync::Arc<dyn chaoskit::proxy::ToxicPlugin>]).await;
        rig.proxy("echo", echo_upstream().await).await;
        // Both versions accept these attributes: the fixture ignores `rate`, bit-flip uses it.
        rig.add("echo", "t", Stream::Downstream, "swap", json!({"rate": 1.0})).await.unwrap();
        let listen = rig.listen("echo").await;
        let mut old = tokio::net::TcpStream::connect(&listen).await.unwrap();
        round_trip(&mut old, &[0u8; 32]).await;
        publish(&path, &std::fs::read(artifacts::path(artifacts::BIT_FLIP)).unwrap());
        wait_until("the reload", || toxic.generation() == 1);
        round_trip(&mut old, &[0u8; 32]).await;
        assert_ne!(echo_through(&listen, &[0u8; 32]).await, vec![0u8; 32], "a new connection gets bit-flip");
        round_trip(&mut old, &[0u8; 32]).await;
        rig.shutdown().await;
    }

    #[test]
    fn a_plugin_built_against_the_0_1_0_contract_still_loads_and_runs() {
        let path = artifacts::path(artifacts::FIXTURE_COMPAT_V0_1);
        let info = host().inspect(path).unwrap();
        assert!(info.imports.iter().any(|i| i == "chaoskit:plugin/host@0.1.0"), "{:?}", info.imports);
        assert_eq!(info.world, Some(World::Injector));
        let inj = host().load_injector(spec(artifacts::FIXTURE_COMPAT_V0_1)).unwrap();
        match decide(&inj, PointKind::Delay, 3) {
            Action::Delay(d) => assert!(d >= Duration::from_nanos(1) && d <= Duration::from_nanos(1000), "{d:?}"),
            other => panic!("expected a delay, got {other:?}"),
        }
        // The same seed draws the same from 0.1.0's `random-u64`.
        assert_eq!(decide(&inj, PointKind::Delay, 3), decide(&inj, PointKind::Delay, 3));
        // 0.1.0's `decide` returns the message itself (at another point than the delay's).
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut draws = Draws::from_rng(&mut rng);
        let error = inj.decide(&point(1, PointKind::Error, "db.call", 7), &mut draws);
        assert_eq!(error, Action::Error("compat error at iteration 7".into()));
        assert_eq!(inj.failures(), 0);
    }

    #[test]
    fn a_toxic_is_told_apart_from_the_other_worlds() {
        let info = host().inspect(artifacts::path(artifacts::HTTP_FAULT)).unwrap();
        assert_eq!(info.world, Some(World::Toxic));
        assert!(info.imports.iter().any(|i| i == "chaoskit:plugin/host@0.2.0"), "{:?}", info.imports);
        let err = host().load_injector(spec(artifacts::HTTP_FAULT)).unwrap_err();
        assert!(err.to_string().contains("is a toxic, but an injector is required"), "{err}");
    }
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

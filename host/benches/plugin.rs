//! Cost of Wasm plugins, beside built-in injectors in the same run: a decision through the full
//! chaos-point path, instantiation, cold and cached loads, hot reload (file write to the new
//! version serving), the WASI linker against the baseline one, and an outgoing HTTP call from a
//! validator against the same call made by the host, and the same plugins in Rust, JavaScript and
//! Python.
//!
//! Run with `cargo bench -p chaoskit-host --bench plugin` (the plugins are built from
//! `plugins/` by the `plugin-artifacts` crate on the first run).

#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaoskit::plugin::{Compiler, Grant, PluginHost, PluginSpec};
use chaoskit::validate::IterationOutcome;
use chaoskit::{ChaosContext, Injector, PointKind, Validator, inject};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use plugin_artifacts as artifacts;

fn ctx(injector: Arc<dyn Injector>) -> ChaosContext {
    ChaosContext::detached(7, 0, [("bench", injector)])
}

/// One decision at an error point: built-in injectors beside Wasm ones, same path.
fn decision(c: &mut Criterion) {
    let host = PluginHost::new().unwrap();
    let mut g = c.benchmark_group("decision through the chaos-point path");
    let builtin = ctx(inject::error(0.001).into_shared());
    g.bench_function("built-in error injector p=0.001", |b| {
        b.iter(|| black_box(&builtin).decide(PointKind::Error, None))
    });
    // A decision that fires adds a journal entry to its iteration's context. One context
    // for millions of them would measure an ever-growing journal (gigabytes by the end), not
    // a run: each of these decisions gets a fresh context, as the first fault of an iteration.
    let always: Arc<dyn Injector> = inject::error(1.0).into_shared();
    g.bench_function("built-in error injector p=1 (journal entry each call)", |b| {
        b.iter_batched_ref(|| ctx(Arc::clone(&always)), |c| c.decide(PointKind::Error, None), BatchSize::SmallInput)
    });
    // The default compiler (Winch on x86-64), then Cranelift: same plugins, same path.
    let cranelift = PluginHost::builder().compiler(Compiler::Cranelift).build().unwrap();
    for (suffix, host) in [("", &host), (", Cranelift", &cranelift)] {
        let flaky = host
            .load_injector(
                PluginSpec::new(artifacts::path(artifacts::FLAKY_DEPENDENCY))
                    .config(r#"{"start_rate": 0.001, "end_rate": 0.001}"#),
            )
            .unwrap();
        let wasm = ctx(Arc::new(flaky));
        g.bench_function(format!("wasm flaky-dependency p=0.001 (counter + draw){suffix}"), |b| {
            b.iter(|| black_box(&wasm).decide(PointKind::Error, None))
        });
        let spike = host
            .load_injector(
                PluginSpec::new(artifacts::path(artifacts::LATENCY_SPIKE)).config(r#"{"period": 1000000, "burst": 0}"#),
            )
            .unwrap();
        let wasm_none = ctx(Arc::new(spike));
        g.bench_function(format!("wasm latency-spike outside its window (returns none){suffix}"), |b| {
            b.iter(|| black_box(&wasm_none).decide(PointKind::Delay, None))
        });
        let version = host.load_injector(PluginSpec::new(artifacts::path(artifacts::FIXTURE_VERSION_A))).unwrap();
        let version: Arc<dyn Injector> = Arc::new(version);
        g.bench_function(format!("wasm injector returning an error (journal entry each call){suffix}"), |b| {
            b.iter_batched_ref(
                || ctx(Arc::clone(&version)),
                |c| c.decide(PointKind::Error, None),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// A fresh instance: instantiate from the pre-linked component, then `configure`.
fn instantiation(c: &mut Criterion) {
    let mut g = c.benchmark_group("instantiation");
    for (label, host) in [("pooling", PluginHost::new().unwrap()), ("on demand", PluginHost::on_demand().unwrap())] {
        let spike = host
            .load_injector(
                PluginSpec::new(artifacts::path(artifacts::LATENCY_SPIKE)).config(r#"{"period": 10, "burst": 1}"#),
            )
            .unwrap();
        g.bench_function(format!("instantiate only ({label})"), |b| b.iter(|| spike.bench_instantiate(false).unwrap()));
        g.bench_function(format!("instantiate + configure ({label})"), |b| {
            b.iter(|| spike.bench_instantiate(true).unwrap())
        });
    }
    g.finish();
}

/// `n` loads of `spec`, each by a new host from `new_host` (created outside the timing).
fn time_loads(n: u64, new_host: impl Fn() -> PluginHost, spec: impl Fn() -> PluginSpec) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..n {
        let host = new_host();
        let start = Instant::now();
        black_box(host.load(spec()).unwrap());
        total += start.elapsed();
    }
    total
}

/// Loading a file: cold (compile) and cached (same bytes, same host).
fn loading(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    let path = artifacts::path(artifacts::LATENCY_SPIKE);
    let spec = || PluginSpec::new(path).config(r#"{"period": 10, "burst": 1}"#);
    for compiler in [Compiler::Winch, Compiler::Cranelift] {
        g.bench_function(format!("cold load (compile, link, instantiate, configure), {}", compiler.name()), |b| {
            b.iter_custom(|n| time_loads(n, || PluginHost::builder().compiler(compiler).build().unwrap(), spec))
        });
    }
    let host = PluginHost::new().unwrap();
    host.load(spec()).unwrap();
    g.sample_size(50);
    g.bench_function("cached load (hash, cache hit, link, instantiate, configure)", |b| {
        b.iter(|| black_box(host.load(spec()).unwrap()))
    });
    g.bench_function("baseline: PluginHost::new (engine + ticker thread)", |b| {
        b.iter(|| black_box(PluginHost::new().unwrap()))
    });
    g.finish();
}

/// A component with a unique custom section appended: same code, new hash (no cache hit).
fn unique(bytes: &[u8], n: u64) -> Vec<u8> {
    let name = b"chaoskit-bench";
    let payload = n.to_le_bytes();
    let size = 1 + name.len() + payload.len();
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    out.push(size as u8); // LEB128 of a small size
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

fn publish(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// From the rename of a new file to the first decision served by it.
fn hot_reload(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot reload");
    g.sample_size(10);
    let host = PluginHost::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.wasm");
    let a = std::fs::read(artifacts::path(artifacts::FIXTURE_VERSION_A)).unwrap();
    let b_bytes = std::fs::read(artifacts::path(artifacts::FIXTURE_VERSION_B)).unwrap();
    publish(&path, &a);
    let inj = host.load_injector(PluginSpec::new(&path).watch(true)).unwrap();
    let mut n = 0u64;
    let mut measure = |iters: u64, cached: bool| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            n += 1;
            let base = if n.is_multiple_of(2) { &a } else { &b_bytes };
            let bytes = if cached { base.clone() } else { unique(base, n) };
            let before = inj.generation();
            let start = Instant::now();
            publish(&path, &bytes);
            while inj.generation() == before {
                std::thread::sleep(Duration::from_micros(200));
            }
            total += start.elapsed();
        }
        total
    };
    g.bench_function("write to serving, new bytes (compile)", |b| b.iter_custom(|iters| measure(iters, false)));
    g.bench_function("write to serving, known bytes (cache hit)", |b| b.iter_custom(|iters| measure(iters, true)));
    g.finish();
}

/// The same plugin linked two ways: the `std` baseline (no wasmtime-wasi) and the WASI linker
/// (a grant that needs it); plus a plugin that draws `wasi:random` and reads `wasi:clocks`.
fn wasi_linker(c: &mut Criterion) {
    let host = PluginHost::new().unwrap();
    let spike = |wasi: bool| {
        let spec =
            PluginSpec::new(artifacts::path(artifacts::LATENCY_SPIKE)).config(r#"{"period": 1000000, "burst": 0}"#);
        let spec = if wasi { spec.grant(Grant::parse("env:CHAOSKIT_BENCH=1").unwrap()) } else { spec };
        Arc::new(host.load_injector(spec).unwrap())
    };
    let (baseline, wasi) = (spike(false), spike(true));
    let mut g = c.benchmark_group("WASI linker");
    for (label, inj) in [("baseline linker", &baseline), ("WASI linker", &wasi)] {
        g.bench_function(format!("instantiate only ({label})"), |b| b.iter(|| inj.bench_instantiate(false).unwrap()));
        g.bench_function(format!("instantiate + configure ({label})"), |b| {
            b.iter(|| inj.bench_instantiate(true).unwrap())
        });
        let ctx = ctx(Arc::clone(inj) as Arc<dyn Injector>);
        g.bench_function(format!("decision, latency-spike returns none ({label})"), |b| {
            b.iter(|| black_box(&ctx).decide(PointKind::Delay, None))
        });
    }
    let mix = host
        .load_injector(PluginSpec::new(artifacts::path(artifacts::FIXTURE_WASI_PROBE)).config(r#"{"probe": "mix"}"#))
        .unwrap();
    let mix = ctx(Arc::new(mix));
    g.bench_function("decision, probe drawing wasi:random and reading wasi:clocks (WASI linker)", |b| {
        b.iter(|| black_box(&mix).decide(PointKind::Error, None))
    });
    // Inside a multi-threaded runtime's worker a WASI plugin's call runs in `block_in_place`.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for (label, inj) in [("baseline linker", &baseline), ("WASI linker", &wasi)] {
        let inj = Arc::clone(inj);
        g.bench_function(format!("decision on a tokio worker ({label})"), |b| {
            b.iter_custom(|n| {
                let ctx = ctx(Arc::clone(&inj) as Arc<dyn Injector>);
                rt.block_on(async move {
                    tokio::spawn(async move {
                        let start = Instant::now();
                        for _ in 0..n {
                            black_box(ctx.decide(PointKind::Delay, None));
                        }
                        start.elapsed()
                    })
                    .await
                    .unwrap()
                })
            })
        });
    }
    g.finish();
}

/// A loopback HTTP server answering every request with the demo service's stats.
fn stats_server() -> u16 {
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
            let body = r#"{"items": 5, "flaky": 4, "flaky_errors": 0}"#;
            let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = reader.get_mut().write_all(reply.as_bytes());
        }
    });
    port
}

/// The host's own GET of the same URL: connect, send, read to the end (a new connection per
/// call, as the plugin's).
fn host_get(port: u16) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"GET /api/stats HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    out
}

/// An outgoing HTTP call from a validator (the demo-state-check plugin, granted the host)
/// against the same call made by the host.
fn outgoing_http(c: &mut Criterion) {
    let host = PluginHost::new().unwrap();
    let port = stats_server();
    let check = host
        .load_validator(
            PluginSpec::new(artifacts::path(artifacts::DEMO_STATE_CHECK))
                .config(format!(r#"{{"service": "127.0.0.1:{port}"}}"#))
                .grant(Grant::parse(&format!("http:127.0.0.1:{port}")).unwrap()),
        )
        .unwrap();
    let mut g = c.benchmark_group("outgoing HTTP");
    g.bench_function("validator check: GET /api/stats through wasi:http (new connection)", |b| {
        let mut index = 0;
        b.iter(|| {
            index += 1;
            let outcome = chaoskit::IterationOutcome {
                index,
                seed: 7,
                ok: true,
                duration: Duration::ZERO,
                error: None,
                stalled_step: None,
                steps_executed: 1,
                events: &[],
                max_recursion_depth: 0,
                panics: 0,
                errors: 0,
            };
            chaoskit::Validator::check(&check, &outcome).unwrap()
        })
    });
    g.bench_function("baseline: the host's GET /api/stats (new connection)", |b| b.iter(|| black_box(host_get(port))));
    g.finish();
}

/// The same injector in Rust and in JavaScript (`flaky-dependency`, `flaky-dependency-js`) and
/// the same validator in Rust and in Python (`error-budget`, `error-budget-py`): decision or
/// check cost, instantiation, cold load (compile) and cached load (a fresh host reading the
/// on-disk compile cache, as the next `chaoskit-host run` does), beside the built-in injector.
/// Guests whose toolchain is not installed are left out with a message.
fn guests(c: &mut Criterion) {
    let flaky = r#"{"start_rate": 0.001, "end_rate": 0.001}"#;
    let budget = r#"{"budget": 1000000}"#;
    let mut plugins: Vec<(&str, &'static str, &str)> = vec![
        ("rust flaky-dependency", artifacts::path(artifacts::FLAKY_DEPENDENCY), flaky),
        ("rust error-budget", artifacts::path(artifacts::ERROR_BUDGET), budget),
    ];
    if let Some(js) = artifacts::foreign(artifacts::FLAKY_DEPENDENCY_JS, "flaky-dependency-js") {
        plugins.push(("js flaky-dependency", js, flaky));
    }
    if let Some(py) = artifacts::foreign(artifacts::ERROR_BUDGET_PY, "error-budget-py") {
        plugins.push(("python error-budget", py, budget));
    }
    for (label, path, _) in &plugins {
        eprintln!("component size: {label}: {} bytes", std::fs::metadata(path).unwrap().len());
    }

    let hosts = [Compiler::Winch, Compiler::Cranelift]
        .map(|compiler| (compiler.name(), PluginHost::builder().compiler(compiler).build().unwrap()));
    let host = &hosts[0].1;
    let mut g = c.benchmark_group("guests: decision");
    let builtin = ctx(inject::error(0.001).into_shared());
    g.bench_function("built-in error injector p=0.001", |b| {
        b.iter(|| black_box(&builtin).decide(PointKind::Error, None))
    });
    for (compiler, host) in &hosts {
        for (label, path, config) in plugins.iter().filter(|(l, _, _)| l.contains("flaky")) {
            let injector = host.load_injector(PluginSpec::new(*path).config(*config)).unwrap();
            let wasm = ctx(Arc::new(injector));
            g.bench_function(format!("{label} p=0.001 (counter + draw), {compiler}"), |b| {
                b.iter(|| black_box(&wasm).decide(PointKind::Error, None))
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("guests: validator check");
    for (compiler, host) in &hosts {
        for (label, path, config) in plugins.iter().filter(|(l, _, _)| l.contains("budget")) {
            let validator = host.load_validator(PluginSpec::new(*path).config(*config)).unwrap();
            let mut i = 0u64;
            g.bench_function(format!("{label} check, {compiler}"), |b| {
                b.iter(|| {
                    i += 1;
                    let outcome = IterationOutcome {
                        index: i,
                        seed: 7,
                        ok: !i.is_multiple_of(7),
                        duration: Duration::from_millis(1),
                        error: None,
                        stalled_step: None,
                        steps_executed: 1,
                        events: &[],
                        max_recursion_depth: 0,
                        panics: 0,
                        errors: u32::from(i.is_multiple_of(7)),
                    };
                    black_box(Validator::check(&validator, &outcome)).unwrap();
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("guests: instantiation + configure");
    g.sample_size(10);
    for (label, path, config) in plugins.iter().filter(|(l, _, _)| l.contains("flaky")) {
        let injector = host.load_injector(PluginSpec::new(*path).config(*config)).unwrap();
        g.bench_function(*label, |b| b.iter(|| injector.bench_instantiate(true).unwrap()));
    }
    g.finish();

    let mut g = c.benchmark_group("guests: load");
    g.sample_size(10);
    for (label, path, config) in &plugins {
        let spec = || PluginSpec::new(*path).config(*config);
        let big = std::fs::metadata(path).unwrap().len() > 1 << 20;
        if big {
            // Seconds per sample: a few samples say enough.
            g.measurement_time(Duration::from_secs(1)).warm_up_time(Duration::from_millis(1));
        }
        for compiler in [Compiler::Winch, Compiler::Cranelift] {
            g.bench_function(
                format!("{label}: cold (compile, link, instantiate, configure), {}", compiler.name()),
                |b| {
                    b.iter_custom(|n| time_loads(n, || PluginHost::builder().compiler(compiler).build().unwrap(), spec))
                },
            );
        }
        let cache = tempfile::tempdir().unwrap();
        PluginHost::with_disk_cache(cache.path()).unwrap().load(spec()).unwrap();
        g.bench_function(format!("{label}: cached on disk (new host, no compile)"), |b| {
            b.iter_custom(|n| time_loads(n, || PluginHost::with_disk_cache(cache.path()).unwrap(), spec))
        });
        if big {
            g.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = decision, instantiation, loading, hot_reload, wasi_linker, outgoing_http, guests
}
criterion_main!(benches);

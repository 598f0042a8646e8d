//! The bodies of the fuzz targets, one function per target. The `fuzz_targets/*.rs` binaries
//! hand them libFuzzer's input; `host/tests/fuzz_corpus.rs` includes this file and replays the
//! seed corpora and every crash found so far (`fuzz/regressions/<target>/`) under
//! `cargo test`, so a fixed crash stays fixed.
//!
//! Each target must never panic on any input; the plugin target also checks the host's bounds
//! (a delay over `max_delay` or a message over `max_message` reaching the run is a crash).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use chaoskit::plugin::{Limits, LoadedPlugin, PluginHost, PluginSpec};
use chaoskit::spec::Format;
use chaoskit::{Action, Draws, Injector, Point, PointKind, Report};

/// A scenario file: the first byte picks TOML, YAML or JSON; the rest is the text. Parsed and,
/// when it parses, resolved against a directory that does not exist (nothing is started).
pub fn scenario_file(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (format, file) = match selector % 3 {
        0 => (Format::Toml, "fuzz.toml"),
        1 => (Format::Yaml, "fuzz.yaml"),
        _ => (Format::Json, "fuzz.json"),
    };
    let Ok(spec) = chaoskit::spec::from_str(text, format, file) else {
        return;
    };
    if let Ok(resolved) = chaoskit::spec::resolve(spec, file, Path::new("/nonexistent-chaoskit-fuzz")) {
        // The resolved form is printable (`chaoskit-host validate --resolved`).
        let _ = serde_json::to_string(&resolved);
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"))
}

/// Force every `listen` address in a JSON body onto an ephemeral loopback port: the fuzzer must
/// not bind public interfaces or well-known ports. The server reads the first JSON value of a
/// body and ignores what follows (like Go's decoder), so the same value is rewritten here and
/// the rest dropped; a body without a JSON value reaches the parser as is.
fn loopback_only(body: &[u8]) -> Vec<u8> {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k.eq_ignore_ascii_case("listen") {
                        *v = serde_json::Value::String("127.0.0.1:0".into());
                    } else {
                        walk(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    match serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>().next() {
        Some(Ok(mut v)) => {
            walk(&mut v);
            serde_json::to_vec(&v).unwrap_or_default()
        }
        _ => body.to_vec(),
    }
}

/// A Toxiproxy API request body: the first byte picks the endpoint that parses it (create or
/// update a proxy, populate, create or update a toxic); a proxy `p` with a toxic `t` exists.
pub fn toxiproxy_api(data: &[u8]) {
    use tower::ServiceExt;
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let (method, path) = match selector % 7 {
        0 => ("POST", "/proxies"),
        1 => ("POST", "/populate"),
        2 => ("POST", "/proxies/p"),
        3 => ("PATCH", "/proxies/p"),
        4 => ("POST", "/proxies/p/toxics"),
        5 => ("POST", "/proxies/p/toxics/t"),
        _ => ("PATCH", "/proxies/p/toxics/t"),
    };
    let body = loopback_only(body);
    runtime().block_on(async {
        let registry = chaoskit::proxy::ProxyRegistry::builder().seed(1).build();
        let app = chaoskit::proxy::api::router(registry.clone());
        let call = |method: &str, path: &str, body: Vec<u8>| {
            let request = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body))
                .expect("request");
            app.clone().oneshot(request)
        };
        let setup = [
            ("POST", "/proxies", r#"{"name":"p","listen":"127.0.0.1:0","upstream":"127.0.0.1:9"}"#),
            ("POST", "/proxies/p/toxics", r#"{"name":"t","type":"latency","attributes":{"latency":1}}"#),
        ];
        for (method, path, body) in setup {
            let status = call(method, path, body.as_bytes().to_vec()).await.expect("infallible").status();
            assert!(status.is_success(), "setup {method} {path}: {status}");
        }
        let response = call(method, path, body).await.expect("infallible");
        // Any status is fine; a 5xx means the server failed on a body, which is a bug.
        assert!(!response.status().is_server_error(), "{method} {path} answered {}", response.status());
        let _ = axum::body::to_bytes(response.into_body(), 1 << 20).await;
        registry.shutdown().await;
    });
}

/// A journal (`journal.json`) as `chaoskit-host report` reads it, rendered in every format.
pub fn report_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(report) = Report::from_json(text) else {
        return;
    };
    let _ = report.to_text();
    let _ = report.to_junit();
    let _ = report.to_html();
    let json = report.to_json();
    assert!(Report::from_json(&json).is_ok(), "a written journal reads back");
}

fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::on_demand().expect("plugin host"))
}

fn scratch_file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| std::env::temp_dir().join(format!("chaoskit-fuzz-component-{}.wasm", std::process::id())))
}

/// Bytes given to the plugin loader as a component file: inspected, then loaded.
pub fn component_bytes(data: &[u8]) {
    let path = scratch_file();
    std::fs::write(path, data).expect("write the scratch component");
    let _ = host().inspect(path);
    let limits = Limits::default().configure_deadline(Duration::from_secs(1));
    let _ = host().load(PluginSpec::new(path).limits(limits));
}

/// The plugin boundary: a fixture (`plugins/fixtures/fuzz-echo`) answers, counts and logs what
/// the input tells it; every result that reaches the host must respect the limits.
pub fn plugin_results(data: &[u8]) {
    let program = String::from_utf8_lossy(data);
    let config = serde_json::json!({ "program": program }).to_string();
    let max_delay = Duration::from_millis(20);
    let limits = Limits::default()
        .max_delay(max_delay)
        .max_message(256)
        .max_counters(8)
        .max_counter_name(64)
        .log_rate(5)
        .max_failures(1000, Duration::from_secs(1))
        .decide_deadline(Duration::from_millis(500))
        .configure_deadline(Duration::from_secs(2));
    let spec =
        PluginSpec::new(plugin_artifacts::path(plugin_artifacts::FIXTURE_FUZZ_ECHO)).config(config).limits(limits);
    let injector = match host().load(spec) {
        Ok(LoadedPlugin::Injector(injector)) => injector,
        Ok(_) => panic!("fuzz-echo is an injector"),
        Err(e) => {
            let message = e.to_string();
            assert!(message.len() < 256 + 1024, "a refusal is echoed cut: {} bytes", message.len());
            return;
        }
    };
    let kinds = [PointKind::Delay, PointKind::Error, PointKind::Panic, PointKind::Cancel, PointKind::Failpoint];
    for iteration in 0..(data.len() as u64).min(16) {
        let kind = kinds[iteration as usize % kinds.len()];
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(iteration);
        let mut draws = Draws::from_rng(&mut rng);
        let point = Point { id: 0, kind, name: "fuzz", scope: None, iteration };
        match injector.decide(&point, &mut draws) {
            Action::Delay(d) => assert!(d <= max_delay, "a {d:?} delay passed the {max_delay:?} cap"),
            Action::Error(m) | Action::Panic(m) => assert!(m.len() <= 256, "a {}-byte message passed", m.len()),
            _ => {}
        }
    }
    let notes = injector.notes();
    assert!(notes.len() <= 32, "{} notes", notes.len());
    assert!(notes.iter().all(|n| n.len() <= 2048), "a note is too long: {notes:?}");
}

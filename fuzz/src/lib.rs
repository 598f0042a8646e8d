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

/// Shard journals as `chaoskit-host report merge` reads them: the input is split on `0xFF`
/// bytes (never in UTF-8 text) into at most four journals (the fourth piece keeps any later
/// `0xFF`, so it is not text and the input is skipped, as the command refuses a merge with an
/// unreadable journal). Each piece is read like a journal file, then the shards merge; a
/// merged journal renders and reads back. `-malloc_limit_mb=512` in `run.sh` catches a merge
/// that allocates what a lying field asks for instead of what the input holds.
pub fn journal_merge(data: &[u8]) {
    let mut journals = Vec::new();
    for (i, piece) in data.splitn(4, |&b| b == 0xFF).enumerate() {
        let Ok(text) = std::str::from_utf8(piece) else {
            return;
        };
        let Ok(report) = Report::from_json(text) else {
            return;
        };
        journals.push((format!("shard-{i}/journal.json"), report));
    }
    match chaoskit::report::merge(journals) {
        Ok(merged) => {
            let _ = merged.to_text();
            let json = merged.to_json();
            assert!(Report::from_json(&json).is_ok(), "a merged journal reads back");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A schedule file (`schedule-iteration-K.json`, written by `shrink`, read by `replay`):
/// when it reads, what it writes reads back to the same schedule.
pub fn schedule_file(data: &[u8]) {
    use chaoskit::replay::ScheduleFile;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = ScheduleFile::from_json(text) else {
        return;
    };
    let written = file.to_json();
    match ScheduleFile::from_json(&written) {
        Ok(again) => assert_eq!(again, file, "a written schedule reads back the same"),
        Err(e) => panic!("a written schedule does not read back: {e}\n{written}"),
    }
}

/// An upstream on 127.0.0.1 that echoes every connection; dropped (aborted) by the caller.
async fn echo_upstream() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the echo upstream");
    let addr = listener.local_addr().expect("echo address");
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, task)
}

/// A toxic body (`POST /proxies/p/toxics`) of any type with any attributes. The server never
/// fails (5xx) on it; an integer attribute outside its [`ATTRIBUTE_RANGES`] entry is refused
/// and a refusal naming an attribute names its range. An accepted toxic is put on a real
/// proxy on 127.0.0.1 (upstream: an echo) and a few bytes are sent through it, waiting at most
/// 30 ms for the answer: each chunk's instants, sums and rates are computed with the accepted
/// values, however large (the proxy's tasks are cancelled by the shutdown).
///
/// [`ATTRIBUTE_RANGES`]: chaoskit::proxy::ATTRIBUTE_RANGES
pub fn toxic_attributes(data: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::ServiceExt;
    let parsed: Option<serde_json::Value> = serde_json::from_slice(data).ok();
    runtime().block_on(async {
        let (upstream, echo) = echo_upstream().await;
        let registry = chaoskit::proxy::ProxyRegistry::builder().seed(1).build();
        let proxy = registry
            .create(chaoskit::proxy::Proxy::new("p", "127.0.0.1:0", upstream.to_string()))
            .await
            .expect("create the proxy");
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/proxies/p/toxics")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(data.to_vec()))
            .expect("request");
        let response = chaoskit::proxy::api::router(registry.clone()).oneshot(request).await.expect("infallible");
        let status = response.status();
        assert!(!status.is_server_error(), "a toxic body answered {status}");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
        let answer = String::from_utf8_lossy(&body);
        check_ranges(parsed.as_ref(), status, &answer);
        if status.is_success() {
            let exchange = async {
                let mut socket = tokio::net::TcpStream::connect(&proxy.listen).await?;
                socket.write_all(b"chaos through a toxic").await?;
                let mut buf = [0u8; 64];
                let _ = socket.read(&mut buf).await?;
                Ok::<_, std::io::Error>(())
            };
            let _ = tokio::time::timeout(Duration::from_millis(30), exchange).await;
        }
        registry.shutdown().await;
        echo.abort();
    });
}

/// The range checks of [`toxic_attributes`]: an attribute given once (keys are
/// case-insensitive) as an integer outside its range must be refused; a refusal that names
/// an attribute must name that attribute's range.
fn check_ranges(body: Option<&serde_json::Value>, status: axum::http::StatusCode, answer: &str) {
    let Some(toxic_type) = body.and_then(|b| b.get("type")).and_then(|t| t.as_str()) else {
        return;
    };
    let attributes = body.and_then(|b| b.get("attributes")).and_then(|a| a.as_object());
    for range in chaoskit::proxy::ATTRIBUTE_RANGES.iter().filter(|r| r.toxic_type == toxic_type) {
        let named = format!("invalid attribute `{}` of toxic type `{toxic_type}`", range.attribute);
        if status == 400 && answer.contains(&named) {
            let bounds = format!("must be between {} and {} {}", range.min, range.max, range.unit);
            assert!(answer.contains(&bounds), "a refusal of `{}` without its range: {answer}", range.attribute);
        }
        let given: Vec<_> = attributes
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.eq_ignore_ascii_case(range.attribute))
            .map(|(_, v)| v)
            .collect();
        if let [value] = given[..]
            && let Some(v) = value.as_i64()
            && !(range.min..=range.max).contains(&v)
        {
            assert!(!status.is_success(), "`{}` = {v} is outside its range but was accepted", range.attribute);
        }
    }
}

/// Reads one HTTP request (headers, then a `content-length` body) for at most 100 ms.
async fn read_request(socket: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let read = async {
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = socket.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            request.extend_from_slice(&buf[..n]);
            let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(100), read).await;
}

/// What a server answers to the Toxiproxy client: the first byte picks the request (version,
/// proxies, populate, toxics, add_toxic, reset); the rest is written, as is, by a listener on
/// 127.0.0.1 after it read the request, then the connection closes. The client (200 ms to
/// connect, 500 ms for the answer) returns a result, never panics, and returns within its
/// bounds (5 s allowed, for a loaded machine).
pub fn toxiproxy_client(data: &[u8]) {
    use chaoskit::proxy::{Client, Proxy, Stream, Toxic, ToxicKind};
    use tokio::io::AsyncWriteExt;
    let Some((&selector, answer)) = data.split_first() else {
        return;
    };
    let answer = answer.to_vec();
    runtime().block_on(async {
        // Tens of thousands of inputs a minute can use up the loopback ports (TIME_WAIT): an
        // input that finds none is skipped, it says nothing about the client.
        let Ok(listener) = tokio::net::TcpListener::bind("127.0.0.1:0").await else {
            return;
        };
        let addr = listener.local_addr().expect("server address");
        let server = tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                read_request(&mut socket).await;
                let _ = socket.write_all(&answer).await;
                let _ = socket.shutdown().await;
            }
        });
        let client = Client::new(&format!("http://{addr}"))
            .expect("a loopback url")
            .timeouts(Duration::from_millis(200), Duration::from_millis(500));
        let started = std::time::Instant::now();
        let toxic = Toxic::new("lag", Stream::Downstream, ToxicKind::Latency { latency: 5, jitter: 1 });
        let outcome = match selector % 6 {
            0 => client.version().await.map(|v| v.len()),
            1 => client.proxies().await.map(|p| p.len()),
            2 => client.populate(&[Proxy::new("p", "127.0.0.1:0", "127.0.0.1:9")]).await.map(|p| p.len()),
            3 => client.toxics("p").await.map(|t| t.len()),
            4 => client.add_toxic("p", &toxic).await.map(|_| 1),
            _ => client.reset().await.map(|()| 0),
        };
        if let Err(e) = outcome {
            let _ = e.to_string();
        }
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(5), "the client took {elapsed:?} with 200 ms / 500 ms bounds");
        server.abort();
    });
}

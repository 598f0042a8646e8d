//! Soak: a long run of the real binary (HTTP steps, a chaos proxy with per-iteration toxics,
//! built-in injectors, a Wasm injector hot-reloaded every few seconds and a Wasm validator)
//! must hold its memory, file descriptors and threads flat. The host samples itself every
//! second into the journal (`host_resources`) and charts the samples in report.html.
//!
//! CI runs 60 seconds. The documented long run (BENCHMARKS.md) is the same test for an hour:
//!
//! ```sh
//! CHAOSKIT_SOAK_SECS=3600 CHAOSKIT_SOAK_KEEP=/tmp/soak \
//!   cargo test -p chaoskit-host --test cli soak -- --nocapture
//! ```
//!
//! `CHAOSKIT_SOAK_KEEP` copies journal.json and report.html to that directory.

use crate::util::{Dir, free_port, http_service, journal};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the host may need beyond the run itself (start, plugin compilation, teardown).
const SLACK: Duration = Duration::from_secs(120);
/// Seconds between hot reloads of the injector plugin.
const RELOAD_EVERY: Duration = Duration::from_secs(5);

fn scenario(port: u16, proxy_port: u16) -> String {
    format!(
        r#"version = 1
[scenario]
name = "soak"
seed = 7
concurrency = 2
failure_policy = "continue_on_failure"
thresholds = {{ preset = "relaxed", min_success_rate = 0.5 }}

[target]
type = "address"
address = "127.0.0.1:{port}"

[[proxies]]
name = "link"
listen = "127.0.0.1:{proxy_port}"
upstream = "127.0.0.1:{port}"

[[steps]]
type = "http"
name = "direct"
url = "http://127.0.0.1:{port}/ok"
timeout = "2s"

[[steps]]
type = "http"
name = "via-proxy"
url = "http://127.0.0.1:{proxy_port}/ok"
timeout = "2s"

# Paces the run (every chaos point waits 5-20 ms) so it stays light on a shared machine.
[[injectors]]
type = "delay"
label = "pace"
probability = 1.0
min = "5ms"
max = "20ms"

[[injectors]]
type = "network"
label = "flaky"
rules = [{{ host = "127.0.0.1", latency = "1ms", drop = 0.01 }}]

[[injectors]]
type = "proxy_toxic"
label = "slow-link"
proxy = "link"
toxic = "latency"
attributes = {{ latency = 5, jitter = 2 }}
probability = 0.3
per_iteration = true

[[validators]]
type = "max_iteration_time"
max = "5s"

[[plugins]]
path = "latency_spike.wasm"
label = "spike"
config = {{ period = 20, burst = 3, min_ms = 1, max_ms = 5, probability = 0.5 }}
watch = true

[[plugins]]
path = "latency_slo.wasm"
label = "slo"
config = {{ quantile = 0.99, max_ms = 5000 }}
"#
    )
}

/// `bytes` with a custom section appended: a new file hash (so the host reloads it) and the
/// same behaviour.
fn with_generation(bytes: &[u8], generation: u64) -> Vec<u8> {
    let name = b"chaoskit-soak-generation";
    let payload = generation.to_le_bytes();
    let size = 1 + name.len() + payload.len();
    assert!(size < 128, "one-byte LEB128 section size");
    let mut out = bytes.to_vec();
    out.extend_from_slice(&[0, size as u8, name.len() as u8]);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

/// Publish a new version the way the docs ask: write a temp file, rename it into place.
fn publish(dir: &Path, bytes: &[u8]) {
    let tmp = dir.join(".latency_spike.wasm.tmp");
    std::fs::write(&tmp, bytes).expect("write plugin");
    std::fs::rename(&tmp, dir.join("latency_spike.wasm")).expect("rename plugin");
}

/// Samples as (seconds, rss bytes, fds, threads).
fn samples(j: &serde_json::Value) -> Vec<(f64, u64, u64, u64)> {
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("`{k}` in {v}"));
    j["host_resources"]
        .as_array()
        .expect("the journal has host_resources")
        .iter()
        .map(|s| (n(s, "t_ms") as f64 / 1000.0, n(s, "rss_bytes"), n(s, "fds"), n(s, "threads")))
        .collect()
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Whether a series stays bounded: the median of the last quarter of the run is at most the
/// peak of its second quarter (after warm-up: compilation, pools, caches) plus `ratio` and
/// `slack`. A leak climbs past both in a minute; noise does not.
fn check_flat(what: &str, series: &[(f64, u64)], ratio: f64, slack: u64) -> Result<String, String> {
    let end = series.last().map(|s| s.0).unwrap_or(0.0);
    let in_range = |from: f64, to: f64| -> Vec<u64> {
        series.iter().filter(|(t, _)| *t >= from * end && *t <= to * end).map(|(_, v)| *v).collect()
    };
    let warm = in_range(0.25, 0.5);
    let last = in_range(0.75, 1.0);
    if warm.is_empty() || last.is_empty() {
        return Err(format!("{what}: too few samples ({})", series.len()));
    }
    let (warm_peak, last_median) = (*warm.iter().max().unwrap_or(&0), median(last));
    let bound = (warm_peak as f64 * (1.0 + ratio)) as u64 + slack;
    let line = format!(
        "{what}: start {}, warm peak {warm_peak}, end median {last_median} (bound {bound})",
        series.first().map(|s| s.1).unwrap_or(0)
    );
    if last_median > bound { Err(format!("{line}: grows without bound")) } else { Ok(line) }
}

#[test]
fn a_soak_run_holds_memory_descriptors_and_threads_flat() {
    let secs: u64 = std::env::var("CHAOSKIT_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let port = http_service();
    let proxy_port = free_port();
    let dir = Dir::new("soak");
    let spike = std::fs::read(plugin_artifacts::path(plugin_artifacts::LATENCY_SPIKE)).expect("latency_spike");
    publish(dir.path(), &spike);
    std::fs::copy(plugin_artifacts::path(plugin_artifacts::LATENCY_SLO), dir.join("latency_slo.wasm"))
        .expect("latency_slo");
    dir.write("soak.toml", &scenario(port, proxy_port));

    let duration = format!("{secs}s");
    let mut child = dir
        .command(&["run", "soak.toml", "--duration", &duration, "--quiet"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn chaoskit-host");
    let started = Instant::now();
    let mut generation = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(secs) + SLACK {
            // Ask it to stop the way CI timeouts do (it writes its report on SIGTERM), so the
            // failure comes with the samples; kill it if even that does not end it.
            let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            std::thread::sleep(Duration::from_secs(20));
            let _ = child.kill();
            let _ = child.wait();
            panic!("the soak run did not finish within {secs}s + {SLACK:?}\n{}", dir.listing());
        }
        std::thread::sleep(RELOAD_EVERY);
        if started.elapsed() < Duration::from_secs(secs) {
            generation += 1;
            publish(dir.path(), &with_generation(&spike, generation));
        }
    };
    let stderr = {
        use std::io::Read;
        let mut s = String::new();
        let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut s));
        s
    };
    assert!(status.code().is_some_and(|c| c <= 1), "run ended with {status}: {stderr}");

    let j = journal(&dir);
    if let Ok(keep) = std::env::var("CHAOSKIT_SOAK_KEEP") {
        let keep = Path::new(&keep);
        std::fs::create_dir_all(keep).expect("keep dir");
        for f in ["journal.json", "report.html", "report.txt"] {
            std::fs::copy(dir.join(&format!("chaoskit-report/{f}")), keep.join(f)).expect("keep report");
        }
    }
    let notes = j["injectors"].to_string();
    assert!(notes.contains("plugin `spike` hot-reloaded"), "the injector was reloaded: {notes}");
    assert!(j["iterations"]["total"].as_u64().unwrap() > secs, "{}", j["iterations"]);

    let s = samples(&j);
    // One sample a second until the series holds MAX_SAMPLES; then it halves itself and samples
    // half as often, so an hour keeps between MAX_SAMPLES / 2 and MAX_SAMPLES.
    let expected = (secs / 2).min(chaoskit::report::MAX_SAMPLES as u64 / 2);
    assert!(s.len() as u64 >= expected, "at least {expected} samples in {secs}s: {}", s.len());
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    for (what, series, ratio, slack) in [
        ("rss bytes", s.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>(), 0.10, 8 << 20),
        ("fds", s.iter().map(|x| (x.0, x.2)).collect(), 0.0, 8),
        ("threads", s.iter().map(|x| (x.0, x.3)).collect(), 0.0, 8),
    ] {
        match check_flat(what, &series, ratio, slack) {
            Ok(line) => lines.push(line),
            Err(line) => failures.push(line),
        }
    }
    eprintln!("soak {secs}s, {generation} reloads, {} iterations:\n  {}", j["iterations"]["total"], lines.join("\n  "));
    assert!(failures.is_empty(), "{}\n(passing: {})", failures.join("\n"), lines.join("; "));
    let html = dir.read("chaoskit-report/report.html");
    assert!(
        html.contains("Host resources over time") && html.contains("resident memory: start"),
        "chart in report.html"
    );
}

#[test]
fn the_flatness_check_catches_a_leak_and_passes_noise() {
    let leak: Vec<(f64, u64)> = (0..60).map(|t| (t as f64, (100 << 20) + ((t as u64) << 21))).collect();
    assert!(check_flat("rss", &leak, 0.10, 8 << 20).unwrap_err().contains("grows without bound"));
    let noise: Vec<(f64, u64)> = (0..60).map(|t| (t as f64, (100 << 20) + (t % 3) * (1 << 20))).collect();
    check_flat("rss", &noise, 0.10, 8 << 20).expect("noise is flat");
}

//! `--metrics-addr` serves Prometheus metrics while the run goes on.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::{Dir, free_port};

fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn metrics_are_served_during_the_run() {
    let port = free_port();
    let dir = Dir::new("metrics");
    dir.write(
        "s.toml",
        r#"version = 1
[scenario]
name = "metrics"
duration = "4s"
failure_policy = "continue_on_failure"
thresholds = { min_success_rate = 0.0 }
[[steps]]
type = "command"
name = "nap"
command = "sleep"
args = ["0.01"]
[[injectors]]
type = "error"
label = "flaky"
probability = 0.3
[[validators]]
type = "max_iteration_time"
label = "quick"
max = "1us"
"#,
    );
    let addr = format!("127.0.0.1:{port}");
    let mut child = dir.command(&["run", "s.toml", "-q", "--metrics-addr", &addr]).spawn().unwrap();
    let started = Instant::now();
    let mut body = String::new();
    while started.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(300));
        if let Some(b) = scrape(port)
            && b.contains("chaoskit_injections_total")
        {
            body = b;
            break;
        }
    }
    let _ = child.wait();
    assert!(body.contains("chaoskit_iterations_total{outcome=\"fail\"}"), "{body}");
    assert!(body.contains("chaoskit_iteration_duration_seconds_bucket"), "{body}");
    assert!(body.contains("chaoskit_injections_total{injector=\"flaky\",action=\"error\"}"), "{body}");
    assert!(body.contains("chaoskit_validator_failures_total{validator=\"quick\"}"), "{body}");
}

#[test]
fn a_metrics_address_in_use_is_a_configuration_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = Dir::new("metrics-taken");
    dir.write("s.toml", "version = 1\n[scenario]\nname = \"m\"\n[[steps]]\ntype = \"command\"\ncommand = \"true\"\n");
    let run = dir.run(&["run", "s.toml", "-q", "--metrics-addr", &addr]);
    run.expect_code(2);
    assert!(
        run.stderr().starts_with(&format!("error: cannot serve metrics on {addr}: failed to create HTTP listener: ")),
        "{}",
        run.explain()
    );
}

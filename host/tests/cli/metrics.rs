//! `--metrics-addr` serves Prometheus metrics while the run goes on, labelled with the
//! scenario and seed, and for `--metrics-grace` after it ends; `--metrics-file` writes the
//! final values for node-exporter.

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
    let mut child = dir
        .command(&["run", "s.toml", "-q", "--seed", "7", "--metrics-addr", &addr, "--metrics-grace", "0s"])
        .spawn()
        .unwrap();
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
    let labels = "scenario=\"metrics\",seed=\"7\"";
    assert!(body.contains(&format!("chaoskit_iterations_total{{{labels},outcome=\"fail\"}}")), "{body}");
    assert!(body.contains("chaoskit_iteration_duration_seconds_bucket"), "{body}");
    assert!(
        body.contains(&format!("chaoskit_injections_total{{{labels},injector=\"flaky\",action=\"error\"}}")),
        "{body}"
    );
    assert!(body.contains(&format!("chaoskit_validator_violations_total{{{labels},validator=\"quick\"}}")), "{body}");
    assert!(body.contains(&format!("chaoskit_step_runs_total{{{labels},step=\"nap\",outcome=\"pass\"}}")), "{body}");
    assert!(body.contains(&format!("chaoskit_step_duration_seconds_bucket{{{labels},step=\"nap\"")), "{body}");
    assert!(body.contains(&format!("chaoskit_planned_iterations{{{labels}}} 0")), "{body}");
    assert!(body.contains(&format!("chaoskit_planned_duration_seconds{{{labels}}} 4")), "{body}");
}

#[test]
fn the_final_metrics_stay_up_for_the_grace_period_and_go_to_the_textfile() {
    let port = free_port();
    let dir = Dir::new("metrics-grace");
    dir.write(
        "s.toml",
        "version = 1\n[scenario]\nname = \"graceful\"\nrepeat = 5\nseed = 3\n[[steps]]\ntype = \"command\"\nname = \"ok\"\ncommand = \"true\"\n",
    );
    let addr = format!("127.0.0.1:{port}");
    let args = ["run", "s.toml", "--metrics-addr", &addr, "--metrics-grace", "3s", "--metrics-file", "final.prom"];
    let mut child = dir.command(&args).stdout(std::process::Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    // `chaoskit_run_finished` is set only once the run has its verdict: seeing it over HTTP
    // means the exporter outlived the run.
    let mut body = String::new();
    while started.elapsed() < Duration::from_secs(20) {
        if let Some(b) = scrape(port)
            && b.contains("chaoskit_run_finished")
        {
            body = b;
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the host exited before serving the final metrics");
        std::thread::sleep(Duration::from_millis(100));
    }
    let labels = "scenario=\"graceful\",seed=\"3\"";
    assert!(body.contains(&format!("chaoskit_run_finished{{{labels},verdict=\"PASS\"}} 1")), "{body}");
    assert!(body.contains(&format!("chaoskit_iterations_total{{{labels},outcome=\"pass\"}} 5")), "{body}");
    assert!(body.contains(&format!("chaoskit_planned_iterations{{{labels}}} 5")), "{body}");
    let seen_finished = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(seen_finished.elapsed() < Duration::from_secs(10), "the grace period ends");
    assert!(scrape(port).is_none(), "nothing serves once the grace period is over");
    let textfile = dir.read("final.prom");
    assert!(textfile.contains(&format!("chaoskit_run_finished{{{labels},verdict=\"PASS\"}} 1")), "{textfile}");
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
        run.stderr().contains(&format!("error: cannot serve metrics on {addr}\n\nCaused by:\n    ")),
        "{}",
        run.explain()
    );
}

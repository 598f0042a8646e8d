//! SIGINT (or SIGTERM) in mid-run: the report is still written, exit 130, no process left behind.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::{Dir, journal};

#[test]
fn sigint_mid_run_writes_the_report_stops_the_target_and_exits_130() {
    interrupt_mid_run("-INT");
}

#[test]
fn sigterm_is_handled_like_sigint() {
    interrupt_mid_run("-TERM");
}

fn interrupt_mid_run(signal: &str) {
    let dir = Dir::new(&format!("signal{signal}"));
    dir.write(
        "s.toml",
        r#"version = 1
[scenario]
name = "interrupted"
duration = "60s"
grace_period = "2s"
[target]
type = "process"
command = "sh"
args = ["-c", "echo $$ > target.pid; exec sleep 600"]
stop_timeout = "2s"
[[steps]]
type = "command"
command = "sleep"
args = ["0.02"]
"#,
    );
    let mut child = dir.command(&["run", "s.toml"]).spawn().expect("spawn");
    let started = Instant::now();
    while !dir.join("target.pid").exists() || dir.read("target.pid").trim().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "target never started\n{}", dir.listing());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let some iterations run.
    std::thread::sleep(Duration::from_millis(700));
    let status = std::process::Command::new("kill").arg("-INT").arg(child.id().to_string()).status().expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the host did not stop after SIGINT\n{}", dir.listing());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(130));
    let j = journal(&dir);
    assert_eq!(j["stop_reason"], "interrupted");
    assert!(j["iterations"]["total"].as_u64().unwrap() > 0, "{}", j["iterations"]);
    assert!(dir.join("chaoskit-report/report.html").is_file());
    let pid = dir.read("target.pid").trim().to_string();
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "target process {pid} outlived the host");
}

/// Issue 11: SIGKILL gives the host no chance to stop its target; on Linux the target gets the
/// parent-death signal and dies with it.
#[cfg(target_os = "linux")]
#[test]
fn sigkill_of_the_host_kills_the_process_target() {
    let dir = Dir::new("sigkill");
    dir.write(
        "s.toml",
        r#"version = 1
[scenario]
name = "killed"
duration = "60s"
[target]
type = "process"
command = "sh"
args = ["-c", "echo $$ > target.pid; exec sleep 600"]
[[steps]]
type = "command"
command = "sleep"
args = ["0.02"]
"#,
    );
    let mut child = dir.command(&["run", "s.toml", "--quiet"]).spawn().expect("spawn");
    let started = Instant::now();
    while !dir.join("target.pid").exists() || dir.read("target.pid").trim().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "target never started\n{}", dir.listing());
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = dir.read("target.pid").trim().to_string();
    let alive = || {
        // Gone, or a zombie waiting for its new parent to reap it: either way it is dead.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.rsplit(')').next().and_then(|s| s.split_whitespace().next()) != Some("Z"))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(), "the target runs while the host does");
    child.kill().expect("SIGKILL the host");
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive() {
        assert!(Instant::now() < deadline, "target process {pid} outlived the SIGKILLed host");
        std::thread::sleep(Duration::from_millis(20));
    }
}

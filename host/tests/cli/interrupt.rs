//! SIGINT (or SIGTERM) in mid-run or during setup: the report is still written with the
//! verdict INTERRUPTED in every format, exit 130, no process left behind.

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
    let status = std::process::Command::new("kill").arg(signal).arg(child.id().to_string()).status().expect("kill");
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
    assert_interrupted_everywhere(&dir);
    let pid = dir.read("target.pid").trim().to_string();
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "target process {pid} outlived the host");
}

/// The verdict is INTERRUPTED in the JSON, the text, the JUnit and the HTML report.
fn assert_interrupted_everywhere(dir: &Dir) {
    let j = journal(dir);
    assert_eq!(j["verdict"], "INTERRUPTED", "{}", j["reasons"]);
    assert!(j["reasons"][0].as_str().unwrap().contains("interrupted"), "{}", j["reasons"]);
    let text = dir.read("chaoskit-report/report.txt");
    assert!(text.contains("\nVERDICT: INTERRUPTED\n"), "{text}");
    let junit = dir.read("chaoskit-report/junit.xml");
    assert!(junit.contains("<property name=\"verdict\" value=\"INTERRUPTED\"/>"), "{junit}");
    assert!(junit.contains("message=\"verdict INTERRUPTED: "), "{junit}");
    let html = dir.read("chaoskit-report/report.html");
    assert!(html.contains(">INTERRUPTED</span>"), "verdict badge in the HTML");
}

#[test]
fn sigint_while_the_target_starts_writes_an_interrupted_report() {
    let dir = Dir::new("signal-setup");
    let port = crate::util::free_port();
    dir.write(
        "s.toml",
        &format!(
            r#"version = 1
[scenario]
name = "never-ready"
repeat = 10
[target]
type = "process"
command = "sh"
args = ["-c", "echo $$ > target.pid; exec sleep 600"]
ready = {{ tcp = "127.0.0.1:{port}", timeout = "60s" }}
stop_timeout = "2s"
[[steps]]
type = "command"
command = "true"
"#
        ),
    );
    let child = dir
        .command(&["run", "s.toml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while !dir.join("target.pid").exists() || dir.read("target.pid").trim().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "target never started\n{}", dir.listing());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(400));
    let status = std::process::Command::new("kill").arg("-INT").arg(child.id().to_string()).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    // A progress line told the user what the host waited for.
    assert!(stderr.contains(&format!("target starting: waiting for TCP 127.0.0.1:{port}, 0.0 s")), "{stderr}");
    let j = journal(&dir);
    assert_eq!(j["stop_reason"], "interrupted");
    assert_eq!(j["iterations"]["total"], 0);
    assert_eq!(j["plan"]["iterations"], 10);
    assert!(j["reasons"][0].as_str().unwrap().starts_with("interrupted before the first iteration, during setup"));
    assert_interrupted_everywhere(&dir);
    // The text report went to stdout too.
    assert!(String::from_utf8_lossy(&out.stdout).contains("VERDICT: INTERRUPTED"));
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
    let alive = || alive(&pid);
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

/// Was: `stop` signalled only the target's pid through a `kill` binary: the children of
/// `sh -c` (or `npm start`) kept running and kept their ports. Now the whole process group
/// gets SIGTERM, with no helper binary (`PATH` is empty here).
#[test]
fn stopping_the_target_stops_its_children_too() {
    let dir = Dir::new("group-stop");
    dir.write(
        "s.toml",
        r#"version = 1
[scenario]
name = "group"
repeat = 3
[target]
type = "process"
command = "/bin/sh"
args = ["-c", "/bin/sleep 600 & echo $! > child.pid; echo $$ > target.pid; wait"]
stop_timeout = "5s"
[[steps]]
type = "command"
command = "/bin/sh"
args = ["-c", "until [ -s child.pid ] && [ -s target.pid ]; do /bin/sleep 0.05; done"]
timeout = "20s"
"#,
    );
    let run = dir.command(&["run", "s.toml", "--quiet"]).env("PATH", "").output().expect("run");
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    for file in ["target.pid", "child.pid"] {
        let pid = dir.read(file).trim().to_string();
        assert!(!pid.is_empty(), "{file} written");
        assert!(!alive(&pid), "{file}: process {pid} outlived the run");
    }
}

/// Whether process `pid` runs: gone, or a zombie waiting for its new parent to reap it, is dead.
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit(')').next().and_then(|s| s.split_whitespace().next()) != Some("Z"))
}

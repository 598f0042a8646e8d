//! `run`: verdicts, exit codes and report contents.

use crate::util::{Dir, http_service, journal};

fn http_scenario(port: u16, path: &str, extra: &str) -> String {
    format!(
        r#"version = 1
[scenario]
name = "http {path}"
seed = 11
repeat = 20
concurrency = 2
{extra}
[target]
type = "address"
address = "127.0.0.1:{port}"

[[steps]]
type = "http"
name = "get"
url = "http://127.0.0.1:{port}{path}"
timeout = "2s"

[[injectors]]
type = "delay"
probability = 0.5
min = "1ms"
max = "3ms"

[[validators]]
type = "max_iteration_time"
max = "5s"

[[validators]]
type = "no_task_leak"
"#
    )
}

#[test]
fn a_passing_scenario_exits_0_and_writes_every_report() {
    let port = http_service();
    let dir = Dir::new("pass");
    dir.write("s.toml", &http_scenario(port, "/ok", ""));
    let run = dir.run(&["run", "s.toml"]);
    run.expect_code(0);
    assert!(run.stdout().contains("VERDICT: PASS"), "{}", run.explain());
    // The verdict is said once: by the text report on stdout; stderr points at the files.
    assert!(!run.stderr().contains("PASS"), "{}", run.explain());
    assert!(run.stderr().contains("reports in chaoskit-report/"), "{}", run.explain());
    let j = journal(&dir);
    assert_eq!(j["schema"], "chaoskit.report/v2");
    assert_eq!(j["verdict"], "PASS");
    assert_eq!(j["iterations"]["total"], 20);
    assert_eq!(j["seed"], 11);
    assert_eq!(j["target"], "127.0.0.1:".to_string() + &port.to_string());
    assert!(j["latency_us"]["p50"].as_f64().unwrap() > 100.0, "latency is measured: {}", j["latency_us"]);
    assert!(j["injectors"][0]["injections"]["delay"].as_u64().unwrap() > 0);
    // Each request drives its own connection and leaves no task behind.
    assert_eq!(j["validators"][1]["label"], "no_task_leak");
    assert_eq!(j["validators"][1]["violations"], 0);
    let junit = dir.read("chaoskit-report/junit.xml");
    assert!(junit.contains("<testsuite name=\"http /ok\""), "{junit}");
    assert!(dir.read("chaoskit-report/report.txt").contains("VERDICT: PASS"));
    assert!(dir.join("chaoskit-report/report.html").is_file());
    // No temporary files are left behind by the atomic writes.
    assert!(!dir.listing().contains(".tmp-"), "{}", dir.listing());
}

#[test]
fn a_failing_scenario_exits_1_with_the_reason_in_the_report() {
    let port = http_service();
    let dir = Dir::new("fail");
    dir.write("s.toml", &http_scenario(port, "/fail", ""));
    let run = dir.run(&["run", "s.toml", "--quiet"]);
    run.expect_code(1);
    assert_eq!(run.stderr(), "", "--quiet keeps stderr empty");
    let j = journal(&dir);
    assert_eq!(j["verdict"], "FAIL");
    assert_eq!(j["stop_reason"], "fail_fast");
    assert_eq!(j["failures"][0]["error"], "step `get` failed: GET /fail answered 500, expected 2xx");
}

#[test]
fn warnings_make_a_run_unstable_which_still_exits_0() {
    let port = http_service();
    let dir = Dir::new("unstable");
    let text = http_scenario(port, "/ok", "").replace(
        "[[validators]]\ntype = \"max_iteration_time\"\nmax = \"5s\"",
        "[[validators]]\ntype = \"max_iteration_time\"\nmax = \"1us\"\nseverity = \"warning\"",
    );
    dir.write("s.toml", &text);
    let run = dir.run(&["run", "s.toml", "--format", "json"]);
    run.expect_code(0);
    let stdout: serde_json::Value = serde_json::from_str(&run.stdout()).expect("--format json prints the journal");
    assert_eq!(stdout["verdict"], "UNSTABLE");
    assert_eq!(stdout, journal(&dir));
}

#[test]
fn flags_override_the_file() {
    let port = http_service();
    let dir = Dir::new("overrides");
    dir.write("s.toml", &http_scenario(port, "/ok", ""));
    let run =
        dir.run(&["run", "s.toml", "--seed", "99", "--repeat", "7", "--concurrency", "1", "--report-dir", "out", "-q"]);
    run.expect_code(0);
    let j: serde_json::Value = serde_json::from_str(&dir.read("out/journal.json")).unwrap();
    assert_eq!(j["seed"], 99);
    assert_eq!(j["iterations"]["total"], 7);
    assert_eq!(j["plan"]["concurrency"], 1);
}

#[test]
fn tcp_and_command_steps_drive_real_services() {
    let port = http_service();
    let dir = Dir::new("tcp-command");
    dir.write(
        "s.toml",
        &format!(
            r#"version = 1
[scenario]
name = "tcp and command"
repeat = 5
[[steps]]
type = "tcp"
address = "127.0.0.1:{port}"
send = "GET /ok HTTP/1.0\r\n\r\n"
expect = "200 OK"
[[steps]]
type = "command"
command = "sh"
args = ["-c", "test -f s.toml"]
"#
        ),
    );
    dir.run(&["run", "s.toml", "-q"]).expect_code(0);
    let failing = dir.write("f.toml", "version = 1\n[scenario]\nname = \"f\"\n[[steps]]\ntype = \"command\"\ncommand = \"sh\"\nargs = [\"-c\", \"echo nope >&2; exit 3\"]\n");
    let _ = failing;
    let run = dir.run(&["run", "f.toml", "-q"]);
    run.expect_code(1);
    assert_eq!(journal(&dir)["failures"][0]["error"], "step `command-1` failed: `sh` exited with exit status: 3: nope");
}

#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let port = http_service();
    let dir = Dir::new("pipe");
    dir.write("s.toml", &http_scenario(port, "/ok", ""));
    let mut child = dir
        .command(&["run", "s.toml", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head` that has read enough: the reading end is gone before the report comes.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error") && !stderr.contains("panicked"), "{stderr}");
    assert!(dir.join("chaoskit-report/journal.json").is_file());
}

#[test]
fn a_process_target_is_started_logged_and_stopped() {
    let port = crate::util::free_port();
    let dir = Dir::new("process");
    // A shell "service" with no port: ready once started; the steps check it runs and the
    // target validators watch it.
    dir.write(
        "s.toml",
        &format!(
            r#"version = 1
[scenario]
name = "process"
repeat = 3
[target]
type = "process"
command = "sh"
args = ["-c", "echo started on {port}; echo $$ > target.pid; exec sleep 600"]
stop_timeout = "2s"
[[steps]]
type = "command"
command = "sh"
# The target is "ready" once started; its shell may not have written the pid yet.
args = ["-c", "for i in 1 2 3 4 5 6 7 8 9 10; do test -s target.pid && kill -0 $(cat target.pid) && exit 0; sleep 0.1; done; exit 1"]
[[validators]]
type = "target_threads"
max_growth = 0
[[validators]]
type = "target_fds"
max_growth = 0
[[validators]]
type = "target_rss"
max = "1GiB"
"#
        ),
    );
    dir.run(&["run", "s.toml", "-q"]).expect_code(0);
    assert_eq!(dir.read("chaoskit-report/target.stdout.log"), format!("started on {port}\n"));
    let pid = dir.read("target.pid").trim().to_string();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "the target process {pid} was stopped");
}

#[test]
fn a_target_that_never_gets_ready_fails_the_run_without_a_leftover_process() {
    let port = crate::util::free_port();
    let dir = Dir::new("not-ready");
    dir.write(
        "s.toml",
        &format!(
            r#"version = 1
[scenario]
name = "never ready"
[target]
type = "process"
command = "sh"
args = ["-c", "echo $$ > target.pid; exec sleep 600"]
ready = {{ tcp = "127.0.0.1:{port}", timeout = "500ms" }}
[[steps]]
type = "command"
command = "true"
"#
        ),
    );
    let run = dir.run(&["run", "s.toml", "-q"]);
    run.expect_code(1);
    assert!(
        run.stderr().contains(&format!("error: setup of target `sh` failed: target process did not accept TCP connections on 127.0.0.1:{port} within 500ms")),
        "{}",
        run.explain()
    );
    let pid = dir.read("target.pid").trim().to_string();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "the target process {pid} was stopped");
}

#[test]
fn report_re_renders_a_journal() {
    let port = http_service();
    let dir = Dir::new("report");
    dir.write("s.toml", &http_scenario(port, "/ok", ""));
    dir.run(&["run", "s.toml", "-q"]).expect_code(0);
    let text = dir.run(&["report", "chaoskit-report/journal.json"]);
    text.expect_code(0);
    assert_eq!(text.stdout(), dir.read("chaoskit-report/report.txt"));
    let junit = dir.run(&["report", "chaoskit-report/journal.json", "--format", "junit"]);
    assert_eq!(junit.stdout(), dir.read("chaoskit-report/junit.xml"));
    dir.run(&["report", "chaoskit-report/journal.json", "--format", "html", "-o", "again.html"]).expect_code(0);
    assert_eq!(dir.read("again.html"), dir.read("chaoskit-report/report.html"));
    dir.write("bad.json", "{\"schema\": \"other\"}");
    let bad = dir.run(&["report", "bad.json"]);
    bad.expect_code(2);
    assert!(
        bad.stderr().starts_with("error: `bad.json`\n\nCaused by:\n    not a chaoskit journal: missing field"),
        "{}",
        bad.explain()
    );
}

#[test]
fn logs_can_be_json_lines_on_stderr() {
    let dir = Dir::new("json-logs");
    dir.write(
        "s.toml",
        "version = 1\n[scenario]\nname = \"logs\"\n[[steps]]\ntype = \"command\"\ncommand = \"true\"\n",
    );
    let run = dir.run(&["run", "s.toml", "-q", "-v", "--log-format", "json"]);
    run.expect_code(0);
    let lines: Vec<serde_json::Value> =
        run.stderr().lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(lines.iter().any(|l| l["fields"]["message"] == "run started"), "{}", run.explain());
}

#[test]
fn an_unreachable_address_target_fails_before_any_iteration() {
    let port = crate::util::free_port();
    let dir = Dir::new("unreachable");
    dir.write(
        "s.toml",
        &format!(
            "version = 1\n[scenario]\nname = \"u\"\n[target]\ntype = \"address\"\naddress = \"127.0.0.1:{port}\"\n[[steps]]\ntype = \"command\"\ncommand = \"true\"\n"
        ),
    );
    let run = dir.run(&["run", "s.toml", "-q"]);
    run.expect_code(1);
    assert!(
        run.stderr().starts_with(&format!(
            "error: setup of target `127.0.0.1:{port}` failed: `127.0.0.1:{port}` is not reachable: Connection refused"
        )),
        "{}",
        run.explain()
    );
}

/// Was: HTTP bodies and command stderr were buffered whole, and the TCP step decoded all it
/// had read again on every read (quadratic: 32 MiB before the expected text took minutes).
#[test]
fn steps_read_what_services_send_within_bounds() {
    let port = http_service();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_port = tcp.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::Write;
        for mut s in tcp.incoming().flatten() {
            let junk = vec![b'.'; 1 << 20];
            for _ in 0..32 {
                let _ = s.write_all(&junk);
            }
            let _ = s.write_all(b"READY");
        }
    });
    let dir = Dir::new("bounded-steps");
    let scenario = |steps: &str| {
        format!(
            "version = 1\n[scenario]\nname = \"bounded\"\nrepeat = 2\nfailure_policy = \"continue_on_failure\"\n{steps}"
        )
    };
    dir.write(
        "ok.toml",
        &scenario(&format!(
            r#"[[steps]]
type = "http"
name = "discarded"
url = "http://127.0.0.1:{port}/big/64"
timeout = "60s"
[[steps]]
type = "tcp"
name = "late-ready"
address = "127.0.0.1:{tcp_port}"
expect = "READY"
# Ample for a linear read; the old quadratic one took minutes for 32 MiB.
timeout = "20s"
"#
        )),
    );
    let run = dir.run(&["run", "ok.toml", "--quiet"]);
    run.expect_code(0);
    // The first failure's error of a run of `steps` that fails.
    let failure = |file: &str, steps: &str| {
        dir.write(file, &scenario(steps));
        dir.run(&["run", file, "--quiet"]).expect_code(1);
        journal(&dir)["failures"][0]["error"].as_str().unwrap_or_default().to_string()
    };

    let error = failure(
        "kept.toml",
        &format!(
            r#"[[steps]]
type = "http"
name = "kept"
url = "http://127.0.0.1:{port}/big/20"
expect_body = "END"
timeout = "60s"
"#
        ),
    );
    assert!(error.contains("larger than 16777216 bytes, the most a step keeps"), "{error}");

    let error = failure(
        "stderr.toml",
        r#"[[steps]]
type = "command"
name = "noisy"
command = "sh"
args = ["-c", "head -c 67108864 /dev/zero | tr '\\0' e >&2; echo >&2; echo the last line >&2; exit 3"]
timeout = "60s"
"#,
    );
    assert!(error.ends_with("exited with exit status: 3: the last line"), "{error}");
}

//! `chaoskit-host proxy`: the standalone proxy server answers Toxiproxy's API, loads a
//! populate file, proxies real connections and stops cleanly on Ctrl-C.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use crate::util::Dir;

/// A minimal HTTP/1.1 request over a fresh connection; returns status line and body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.lines().next().unwrap_or("").to_string(), body.to_string())
}

#[test]
fn the_proxy_command_serves_toxiproxys_api_and_proxies_connections() {
    let dir = Dir::new("proxy");
    let upstream_addr = format!("127.0.0.1:{}", echo_service());
    let listen = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    dir.write("proxies.json", &format!(r#"[{{"name":"echo","listen":"{listen}","upstream":"{upstream_addr}"}}]"#));
    let mut child = dir
        .command(&["proxy", "--listen", "127.0.0.1:0", "--config", "proxies.json", "--seed", "7"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chaoskit-host proxy");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let api = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the proxy exited before announcing its address");
        if let Some(url) = line.trim().strip_prefix("chaoskit proxy API listening on http://") {
            break url.to_string();
        }
    };

    let (status, body) = http(&api, "GET", "/version", "");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("\"version\""), "{body}");
    let (status, body) = http(&api, "GET", "/proxies", "");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains(&format!(r#""listen":"{listen}""#)), "{body}");

    let mut conn = TcpStream::connect(listen).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");

    let (status, body) = http(&api, "POST", "/proxies/echo/toxics", r#"{"type":"bandwidth","attributes":{"rate":0}}"#);
    assert_eq!(status, "HTTP/1.1 400 Bad Request", "{body}");
    let (status, _) = http(&api, "GET", "/proxies/missing", "");
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(TcpStream::connect(listen).is_err(), "the proxy stopped listening");
}

#[test]
fn a_bad_populate_file_is_a_configuration_error() {
    let dir = Dir::new("proxy-bad");
    dir.write("proxies.json", r#"[{"name":"x"}]"#);
    let run = dir.run(&["proxy", "--listen", "127.0.0.1:0", "--config", "proxies.json"]);
    assert_eq!(run.output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.output.stderr);
    assert!(stderr.contains("proxies.json") && stderr.contains("missing required field: upstream"), "{stderr}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A TCP echo service on 127.0.0.1; returns its port.
fn echo_service() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn scenario_proxies_carry_per_iteration_toxics_that_slow_exactly_the_chosen_iterations() {
    let dir = Dir::new("proxies");
    let (echo, listen) = (echo_service(), free_port());
    dir.write(
        "s.toml",
        &format!(
            r#"version = 1
[scenario]
name = "through a proxy"
seed = 3
repeat = 10
failure_policy = "continue_on_failure"

[[proxies]]
name = "echo"
listen = "127.0.0.1:{listen}"
upstream = "127.0.0.1:{echo}"

[[steps]]
type = "tcp"
name = "ping"
address = "127.0.0.1:{listen}"
send = "ping"
expect = "ping"
timeout = "2s"

[[injectors]]
type = "proxy_toxic"
label = "slow-link"
proxy = "echo"
toxic = "latency"
attributes = {{ latency = 80 }}
probability = 0.5
per_iteration = true
"#
        ),
    );
    let run = dir.run(&["run", "s.toml", "--quiet"]);
    run.expect_code(0);
    let j = crate::util::journal(&dir);
    let samples = j["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 10, "{}", run.explain());
    let mut slowed = 0;
    for s in samples {
        let us = s["duration_us"].as_u64().unwrap();
        if s["decisions"].as_array().unwrap().is_empty() {
            assert!(us < 80_000, "iteration {} was slow without the toxic: {us} µs", s["index"]);
        } else {
            slowed += 1;
            assert_eq!(s["decisions"][0]["injector"], "slow-link");
            assert!(us >= 80_000, "iteration {} drew the toxic but took {us} µs", s["index"]);
        }
    }
    assert!(slowed > 0 && slowed < 10, "{slowed} of 10 iterations drew the toxic");
    assert!(TcpStream::connect(("127.0.0.1", listen)).is_err(), "the proxy is removed after the run");
}

#[test]
fn proxy_injectors_name_a_known_proxy_and_toxic() {
    let dir = Dir::new("proxies-bad");
    let scenario = |proxy: &str, toxic: &str| {
        format!(
            r#"version = 1
[scenario]
name = "bad"
[[proxies]]
name = "db"
upstream = "127.0.0.1:5432"
[[steps]]
type = "command"
command = "true"
[[injectors]]
type = "proxy_toxic"
proxy = "{proxy}"
toxic = "{toxic}"
"#
        )
    };
    dir.write("a.toml", &scenario("dbb", "latency"));
    let run = dir.run(&["validate", "a.toml"]);
    run.expect_code(2);
    assert!(
        run.stderr()
            .contains("a.toml:12:9: injectors[0].proxy: no proxy named `dbb`; defined: `db` (did you mean `db`?)"),
        "{}",
        run.explain()
    );
    dir.write("b.toml", &scenario("db", "latncy"));
    let run = dir.run(&["validate", "b.toml"]);
    run.expect_code(2);
    assert!(run.stderr().contains("injectors[0].toxic: unknown toxic `latncy`; valid values:"), "{}", run.explain());
    assert!(run.stderr().contains("(did you mean `latency`?)"), "{}", run.explain());
}

/// Starts `chaoskit-host proxy` with `extra` arguments; returns the child and the API address.
fn start_proxy(dir: &Dir, extra: &[&str]) -> (std::process::Child, String) {
    let mut args = vec!["proxy", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut child = dir.command(&args).stderr(Stdio::piped()).spawn().expect("spawn chaoskit-host proxy");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let api = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the proxy exited before announcing its address");
        if let Some(url) = line.trim().strip_prefix("chaoskit proxy API listening on http://") {
            break url.to_string();
        }
    };
    (child, api)
}

#[test]
fn the_proxy_command_loads_toxic_plugins_that_clients_add_by_type() {
    let dir = Dir::new("proxy-plugin");
    let wasm = plugin_artifacts::path(plugin_artifacts::HTTP_FAULT);
    let (mut child, api) = start_proxy(&dir, &["--plugin", wasm]);
    // An HTTP upstream that must never be reached: every request is faulted.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let listen = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (status, body) = http(
        &api,
        "POST",
        "/proxies",
        &format!(r#"{{"name":"web","listen":"{listen}","upstream":"{upstream_addr}"}}"#),
    );
    assert_eq!(status, "HTTP/1.1 201 Created", "{body}");
    let (status, body) = http(
        &api,
        "POST",
        "/proxies/web/toxics",
        r#"{"name":"f","type":"http_fault","stream":"upstream","attributes":{"status":429,"body":"slow down"}}"#,
    );
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains(r#""type":"http_fault""#), "{body}");
    // A keep-alive request: the fault response is framed by its content-length.
    let mut conn = TcpStream::connect(listen).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(b"GET /anything HTTP/1.1\r\nHost: web\r\n\r\n").unwrap();
    let expected = "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain\r\ncontent-length: 9\r\nx-chaoskit-fault: http-fault\r\n\r\nslow down";
    let mut got = vec![0u8; expected.len()];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), expected);
    let (status, body) =
        http(&api, "POST", "/proxies/web/toxics", r#"{"name":"g","type":"http_fault","attributes":{"status":42}}"#);
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert!(body.contains("`status` must be an HTTP status code (100..=599), got 42"), "{body}");
    // The proxy dialled the upstream for the connection, but no byte of the request reached it.
    let (mut dialled, _) = upstream.accept().unwrap();
    dialled.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    assert!(
        matches!(dialled.read(&mut buf), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the faulted request never reached the upstream"
    );
    drop(conn);
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn the_proxy_command_refuses_a_plugin_that_is_not_a_toxic() {
    let dir = Dir::new("proxy-plugin-bad");
    let spike = plugin_artifacts::path(plugin_artifacts::LATENCY_SPIKE);
    let run = dir.run(&["proxy", "--listen", "127.0.0.1:0", "--plugin", spike]);
    assert_eq!(run.output.status.code(), Some(2));
    assert!(run.stderr().contains("is an injector, but a toxic is required here"), "{}", run.explain());
}

#[test]
fn a_scenario_runs_a_toxic_plugin_on_its_proxy_in_the_iterations_that_draw_it() {
    let dir = Dir::new("proxies-plugin");
    let (echo, listen) = (echo_service(), free_port());
    let wasm = plugin_artifacts::path(plugin_artifacts::BIT_FLIP);
    dir.write(
        "s.toml",
        &format!(
            r#"version = 1
[scenario]
name = "corrupted link"
seed = 3
repeat = 10
failure_policy = "continue_on_failure"

[[proxies]]
name = "echo"
listen = "127.0.0.1:{listen}"
upstream = "127.0.0.1:{echo}"

[[plugins]]
path = "{wasm}"
label = "flip"

[[steps]]
type = "tcp"
name = "ping"
address = "127.0.0.1:{listen}"
send = "ping"
expect = "ping"
timeout = "2s"

[[injectors]]
type = "proxy_toxic"
label = "corrupt"
proxy = "echo"
toxic = "flip"
attributes = {{ rate = 1.0 }}
probability = 0.5
per_iteration = true
"#
        ),
    );
    let run = dir.run(&["run", "s.toml", "--quiet"]);
    let j = crate::util::journal(&dir);
    // Failing iterations are all kept (`failures`), passing ones in `samples`.
    let failures = j["failures"].as_array().unwrap();
    let samples = j["samples"].as_array().unwrap();
    assert_eq!(failures.len() + samples.len(), 10, "{}", run.explain());
    for s in failures.iter().chain(samples) {
        let drew = !s["decisions"].as_array().unwrap().is_empty();
        let ok = s["ok"].as_bool().unwrap();
        assert_eq!(ok, !drew, "iteration {}: drew the toxic {drew}, ok {ok}: {}", s["index"], run.explain());
    }
    assert!(!failures.is_empty() && !samples.is_empty(), "{} of 10 iterations drew the toxic", failures.len());
    run.expect_code(1);
}

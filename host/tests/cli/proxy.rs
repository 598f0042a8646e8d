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
    // An echo upstream.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in upstream.incoming().flatten() {
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

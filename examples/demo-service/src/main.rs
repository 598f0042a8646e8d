//! A tiny HTTP service to point ChaosKit at: loopback only, std only, sometimes slow.
//!
//! Run with `cargo run -p example-demo-service -- --port 8077`, then
//! `curl http://127.0.0.1:8077/api/items`. You should see a small JSON list; about one
//! request in ten takes 150 ms longer, and `/api/flaky` answers 500 about one time in twenty.
//!
//! Endpoints:
//! - `GET /health`: `200 ok` once the service listens.
//! - `GET /api/items`: a JSON list; every tenth request is slow (150 ms).
//! - `GET /api/flaky`: `500` on every twentieth request, `200` otherwise.
//! - `POST /api/echo`: echoes the body.
//! - `GET /api/stats`: the service's counters as JSON, `{"items": N, "flaky": N,
//!   "flaky_errors": N}` (what the `demo-state-check` plugin checks).
//!
//! The port comes from `--port N`, else `DEMO_PORT`, else 8077. It stops on SIGTERM or
//! Ctrl-C (the default signal action).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static ITEMS: AtomicU64 = AtomicU64::new(0);
static FLAKY: AtomicU64 = AtomicU64::new(0);
static FLAKY_ERRORS: AtomicU64 = AtomicU64::new(0);

fn port() -> u16 {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--port"
            && let Some(p) = args.next().and_then(|p| p.parse().ok())
        {
            return p;
        }
    }
    std::env::var("DEMO_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8077)
}

fn main() {
    let port = port();
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo-service: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("demo-service: listening on http://127.0.0.1:{port}");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            if let Err(e) = handle(stream) {
                eprintln!("demo-service: connection error: {e}");
            }
        });
    }
}

fn handle(stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; content_length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content) = match (method, path) {
        ("GET", "/health") => (200, b"ok".to_vec()),
        ("GET", "/api/items") => {
            if ITEMS.fetch_add(1, Ordering::Relaxed) % 10 == 9 {
                std::thread::sleep(Duration::from_millis(150));
            }
            (200, br#"[{"id":1,"name":"anvil"},{"id":2,"name":"rocket skates"}]"#.to_vec())
        }
        ("GET", "/api/flaky") => {
            if FLAKY.fetch_add(1, Ordering::Relaxed) % 20 == 19 {
                FLAKY_ERRORS.fetch_add(1, Ordering::Relaxed);
                (500, b"internal error".to_vec())
            } else {
                (200, b"fine".to_vec())
            }
        }
        ("POST", "/api/echo") => (200, body),
        ("GET", "/api/stats") => (
            200,
            format!(
                r#"{{"items":{},"flaky":{},"flaky_errors":{}}}"#,
                ITEMS.load(Ordering::Relaxed),
                FLAKY.load(Ordering::Relaxed),
                FLAKY_ERRORS.load(Ordering::Relaxed)
            )
            .into_bytes(),
        ),
        _ => (404, b"not found".to_vec()),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let mut out = stream;
    write!(out, "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", content.len())?;
    out.write_all(&content)?;
    out.flush()
}

//! A checkout service with a bug that only two faults together expose, for the replay and
//! shrink walk-through (README, `examples/scenarios/checkout.toml`). Loopback only, std only.
//!
//! Run: `cargo run -p chaoskit-host --example checkout_service -- --port 8091 --bank-port 8092
//! --charge-via 127.0.0.1:8093 --status-via 127.0.0.1:8094`, then
//! `curl -X POST http://127.0.0.1:8091/pay` and `curl http://127.0.0.1:8091/audit`.
//!
//! The service charges each order at a bank (a second listener in this process) through
//! `--charge-via`. When the charge call breaks before the answer arrives, it asks the bank
//! whether the order was charged, through `--status-via`, with a short timeout; only if that
//! question times out too does it charge again without checking (at the bank's second
//! address, `--bank-port`, not through the proxy), and the order is charged twice. So a lost answer alone is handled, a slow status check alone is never noticed, and
//! both together double-charge. `GET /audit` answers 500 when the last order was charged
//! more than once.
//!
//! Endpoints: `GET /health`, `POST /pay` (charges the next order), `GET /audit`; the bank
//! answers `POST /charge?order=N` and `GET /status?order=N`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the service waits for the bank's answer to a charge.
const CHARGE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long it waits for a status check before giving up on it (the bug's second half).
const STATUS_TIMEOUT: Duration = Duration::from_millis(300);

#[derive(Default)]
struct Bank {
    charges: Mutex<HashMap<u64, u32>>,
}

struct Service {
    bank: Arc<Bank>,
    next_order: AtomicU64,
    last_order: AtomicU64,
    charge_via: String,
    status_via: String,
    bank_direct: String,
}

fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == name {
            return args.next();
        }
    }
    None
}

fn main() {
    let port = arg("--port").unwrap_or_else(|| "8091".into());
    let bank_port = arg("--bank-port").unwrap_or_else(|| "8092".into());
    let bank_addr = format!("127.0.0.1:{bank_port}");
    let service = Arc::new(Service {
        bank: Arc::new(Bank::default()),
        next_order: AtomicU64::new(1),
        last_order: AtomicU64::new(0),
        charge_via: arg("--charge-via").unwrap_or_else(|| bank_addr.clone()),
        status_via: arg("--status-via").unwrap_or_else(|| bank_addr.clone()),
        bank_direct: bank_addr.clone(),
    });
    let bank_listener = listen(&bank_addr);
    let bank = service.bank.clone();
    std::thread::spawn(move || {
        for stream in bank_listener.incoming().flatten() {
            let bank = bank.clone();
            std::thread::spawn(move || {
                let _ = serve(stream, |method, path| bank_answer(&bank, method, path));
            });
        }
    });
    let listener = listen(&format!("127.0.0.1:{port}"));
    eprintln!("checkout-service: listening on http://127.0.0.1:{port}, bank on {bank_addr}");
    for stream in listener.incoming().flatten() {
        let service = service.clone();
        std::thread::spawn(move || {
            let _ = serve(stream, |method, path| service_answer(&service, method, path));
        });
    }
}

fn listen(addr: &str) -> TcpListener {
    TcpListener::bind(addr).unwrap_or_else(|e| {
        eprintln!("checkout-service: cannot listen on {addr}: {e}");
        std::process::exit(1);
    })
}

fn order_of(path: &str) -> u64 {
    path.split_once("order=").and_then(|(_, n)| n.parse().ok()).unwrap_or(0)
}

fn bank_answer(bank: &Bank, method: &str, path: &str) -> (u16, String) {
    let order = order_of(path);
    let mut charges = bank.charges.lock().unwrap_or_else(|e| e.into_inner());
    match (method, path.split('?').next().unwrap_or("")) {
        ("POST", "/charge") => {
            *charges.entry(order).or_default() += 1;
            (200, "charged".into())
        }
        ("GET", "/status") => (200, if charges.contains_key(&order) { "charged" } else { "none" }.into()),
        _ => (404, "not found".into()),
    }
}

fn service_answer(service: &Service, method: &str, path: &str) -> (u16, String) {
    match (method, path) {
        ("GET", "/health") => (200, "ok".into()),
        ("POST", "/pay") => {
            let order = service.next_order.fetch_add(1, Ordering::Relaxed);
            service.last_order.store(order, Ordering::Relaxed);
            pay(service, order)
        }
        ("GET", "/audit") => {
            let order = service.last_order.load(Ordering::Relaxed);
            let charges = service.bank.charges.lock().unwrap_or_else(|e| e.into_inner());
            match charges.get(&order).copied().unwrap_or(0) {
                0 | 1 => (200, format!("order {order} ok")),
                n => (500, format!("order {order} charged {n} times")),
            }
        }
        _ => (404, "not found".into()),
    }
}

fn pay(service: &Service, order: u64) -> (u16, String) {
    let charge = format!("/charge?order={order}");
    if call(&service.charge_via, "POST", &charge, CHARGE_TIMEOUT).is_ok() {
        return (200, format!("order {order} paid"));
    }
    // The answer was lost: did the charge land? Ask, briefly.
    match call(&service.status_via, "GET", &format!("/status?order={order}"), STATUS_TIMEOUT) {
        Ok(body) if body == "charged" => (200, format!("order {order} paid (recovered)")),
        // BUG: a status check that times out is treated like "not charged".
        _ => match call(&service.bank_direct, "POST", &charge, CHARGE_TIMEOUT) {
            Ok(_) => (200, format!("order {order} paid (retried)")),
            Err(e) => (502, format!("order {order}: bank unavailable: {e}")),
        },
    }
}

/// One HTTP/1.1 request with `Connection: close`; the body of a 200 answer.
fn call(addr: &str, method: &str, path: &str, timeout: Duration) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: bank\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").ok_or(std::io::ErrorKind::UnexpectedEof)?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(head.lines().next().unwrap_or("").to_string()));
    }
    Ok(body.to_string())
}

fn serve(stream: TcpStream, answer: impl Fn(&str, &str) -> (u16, String)) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length.min(1 << 16)];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, text) = answer(method, path);
    let reason = if status == 200 { "OK" } else { "Error" };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    out.flush()
}

//! `http-fault`: answer a share of HTTP/1.1 requests with a fault response (e.g. 5% of
//! `GET /api/*` get a 503), without the request reaching the server.
//!
//! Add it on the **upstream** stream (client to server). It follows request boundaries (the head
//! up to the blank line, then a `Content-Length` or chunked body), so a faulted request is
//! skipped whole and answered with a complete response (`Content-Length` framing): keep-alive
//! connections stay usable. Requests that do not match, or do not draw the fault, pass unchanged.
//! The draw uses the toxic's seeded stream, so the same proxy seed faults the same requests.
//!
//! | attribute | meaning                                                          | default                 |
//! |-----------|------------------------------------------------------------------|-------------------------|
//! | `rate`    | share of matching requests that get the fault (0..=1)            | `1.0`                   |
//! | `method`  | only this method (e.g. `"GET"`); any when absent                 | any                     |
//! | `path`    | only this path; a trailing `*` matches a prefix                  | any                     |
//! | `status`  | status code of the fault response (100..=599)                    | `503`                   |
//! | `body`    | body of the fault response                                       | `"injected fault\n"`    |
//!
//! Limits: a request head longer than 64 KiB turns the filter off for the connection (bytes pass
//! unchanged). Pipelined requests are not reordered: a fault answered while an earlier request
//! is still waiting for the server's reply would overtake it, so use it with clients that wait
//! for each response (most HTTP/1.1 clients do).

use chaoskit_plugin_sdk::{ConnectionInfo, Direction, Step, Toxic, export_toxic, random};
use serde::Deserialize;

/// Longest request head followed; a longer one turns the filter off for the connection.
const MAX_HEAD: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "one")]
    rate: f64,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default = "service_unavailable")]
    status: u16,
    #[serde(default = "default_body")]
    body: String,
}

fn one() -> f64 {
    1.0
}
fn service_unavailable() -> u16 {
    503
}
fn default_body() -> String {
    "injected fault\n".into()
}

struct HttpFault {
    config: Config,
    /// The whole fault response, built once.
    response: Vec<u8>,
}

/// Where a connection's request stream is.
enum State {
    /// Reading a request head; `head` holds the bytes seen so far (already skipped).
    Head { head: Vec<u8> },
    /// Inside a `Content-Length` body.
    Body { left: u64, fault: bool },
    /// Inside a chunked body.
    Chunked { fault: bool, chunk: ChunkState },
    /// Lost track (a head over the limit, a malformed body): pass everything.
    Off,
}

/// Position inside a chunked body.
enum ChunkState {
    /// Reading a chunk-size line (hex digits, extensions, CRLF).
    Size { size: u64, digits: bool, in_ext: bool },
    /// Inside chunk data, with this many bytes left, then CRLF.
    Data { left: u64 },
    /// The CRLF after chunk data: bytes left of it.
    DataEnd { left: u8 },
    /// Trailer lines after the last chunk; `line_len` counts the current line's bytes.
    Trailer { line_len: usize },
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected Fault",
    }
}

impl Toxic for HttpFault {
    type Config = Config;
    type Connection = State;

    fn new(config: Config) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&config.rate) {
            return Err(format!("`rate` must be between 0 and 1, got {}", config.rate));
        }
        if !(100..=599).contains(&config.status) {
            return Err(format!("`status` must be an HTTP status code (100..=599), got {}", config.status));
        }
        if let Some(m) = &config.method
            && (m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            return Err(format!("`method` must be a method name like \"GET\", got {m:?}"));
        }
        let response = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nx-chaoskit-fault: http-fault\r\n\r\n{}",
            config.status,
            reason(config.status),
            config.body.len(),
            config.body
        )
        .into_bytes();
        Ok(Self { config, response })
    }

    fn open(&mut self, _info: &ConnectionInfo) -> State {
        State::Head { head: Vec::new() }
    }

    fn filter(&mut self, state: &mut State, _direction: Direction, chunk: Vec<u8>) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut i = 0;
        let mut changed = false;
        while i < chunk.len() {
            match state {
                State::Off => {
                    steps.push(pass(chunk.len() - i));
                    i = chunk.len();
                }
                State::Head { head } => {
                    let Some(end) = head_end(head, &chunk[i..]) else {
                        // The head goes on in a later chunk: hold these bytes until it ends.
                        head.extend_from_slice(&chunk[i..]);
                        steps.push(skip(chunk.len() - i));
                        changed = true;
                        i = chunk.len();
                        if head.len() > MAX_HEAD {
                            steps.push(Step::Insert(std::mem::take(head)));
                            *state = State::Off;
                        }
                        continue;
                    };
                    let held = std::mem::take(head);
                    let whole: std::borrow::Cow<'_, [u8]> = if held.is_empty() {
                        (&chunk[i..i + end]).into()
                    } else {
                        let mut h = held;
                        h.extend_from_slice(&chunk[i..i + end]);
                        h.into()
                    };
                    let request = parse_head(&whole);
                    let fault = request.as_ref().is_some_and(|r| self.matches(r)) && random::chance(self.config.rate);
                    if fault {
                        steps.push(skip(end));
                        steps.push(Step::Reply(self.response.clone()));
                        changed = true;
                    } else if let std::borrow::Cow::Owned(bytes) = whole {
                        // Bytes held from earlier chunks go out now, then this chunk's part.
                        steps.push(skip(end));
                        steps.push(Step::Insert(bytes));
                        changed = true;
                    } else {
                        steps.push(pass(end));
                    }
                    i += end;
                    *state = match request.map(|r| r.body) {
                        Some(Body::Length(0)) => State::Head { head: Vec::new() },
                        Some(Body::Length(left)) => State::Body { left, fault },
                        Some(Body::Chunked) => State::Chunked {
                            fault,
                            chunk: ChunkState::Size { size: 0, digits: false, in_ext: false },
                        },
                        None => State::Off,
                    };
                }
                State::Body { left, fault } => {
                    let n = (*left).min((chunk.len() - i) as u64) as usize;
                    steps.push(if *fault { skip(n) } else { pass(n) });
                    changed |= *fault;
                    *left -= n as u64;
                    i += n;
                    if *left == 0 {
                        *state = State::Head { head: Vec::new() };
                    }
                }
                State::Chunked { fault, chunk: position } => {
                    let fault = *fault;
                    let (used, done, ok) = chunked(position, &chunk[i..]);
                    steps.push(if fault { skip(used) } else { pass(used) });
                    changed |= fault;
                    i += used;
                    if !ok {
                        *state = State::Off;
                    } else if done {
                        *state = State::Head { head: Vec::new() };
                    }
                }
            }
        }
        // Nothing changed: pass the chunk without copying it back.
        if changed { steps } else { Vec::new() }
    }
}

fn pass(n: usize) -> Step {
    Step::Pass(u32::try_from(n).unwrap_or(u32::MAX))
}

fn skip(n: usize) -> Step {
    Step::Skip(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Where the head ends in `next` (just after the blank line), given the `held` bytes before it.
fn head_end(held: &[u8], next: &[u8]) -> Option<usize> {
    // The "\r\n\r\n" may start in the held bytes: look at their last 3 bytes too.
    let tail = &held[held.len().saturating_sub(3)..];
    let mut window: Vec<u8> = Vec::with_capacity(tail.len() + next.len().min(3));
    window.extend_from_slice(tail);
    for (k, &b) in next.iter().enumerate() {
        if window.len() == 4 {
            window.remove(0);
        }
        window.push(b);
        if window == b"\r\n\r\n" {
            return Some(k + 1);
        }
    }
    None
}

struct Request {
    method: String,
    path: String,
    body: Body,
}

enum Body {
    Length(u64),
    Chunked,
}

/// The method, path and body framing of a request head; `None` if it is not HTTP/1.x.
fn parse_head(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target, version) = (first.next()?, first.next()?, first.next()?);
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut body = Body::Length(0);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            body = Body::Length(value.parse().ok()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.to_ascii_lowercase().contains("chunked") {
            body = Body::Chunked;
        }
    }
    let path = target.split('?').next().unwrap_or(target);
    Some(Request { method: method.to_owned(), path: path.to_owned(), body })
}

impl HttpFault {
    fn matches(&self, r: &Request) -> bool {
        let method = self.config.method.as_ref().is_none_or(|m| m.eq_ignore_ascii_case(&r.method));
        let path = match self.config.path.as_deref() {
            None => true,
            Some(p) => match p.strip_suffix('*') {
                Some(prefix) => r.path.starts_with(prefix),
                None => r.path == p,
            },
        };
        method && path
    }
}

/// Advances a chunked-body parser over `bytes`: returns (bytes used, body done, well-formed).
fn chunked(state: &mut ChunkState, bytes: &[u8]) -> (usize, bool, bool) {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        match state {
            ChunkState::Size { size, digits, in_ext } => match b {
                b'\n' => {
                    if !*digits {
                        return (i, false, false);
                    }
                    *state = if *size == 0 {
                        ChunkState::Trailer { line_len: 0 }
                    } else {
                        ChunkState::Data { left: *size }
                    };
                }
                b'\r' => {}
                b';' => *in_ext = true,
                _ if *in_ext => {}
                _ => match (b as char).to_digit(16) {
                    Some(d) if *size < u64::MAX / 16 => {
                        *size = *size * 16 + u64::from(d);
                        *digits = true;
                    }
                    _ => return (i, false, false),
                },
            },
            ChunkState::Data { left } => {
                // Take as much data as this chunk has at once.
                let n = (*left).min((bytes.len() - i + 1) as u64) as usize;
                i += n - 1;
                *left -= n as u64;
                if *left == 0 {
                    *state = ChunkState::DataEnd { left: 2 };
                }
            }
            ChunkState::DataEnd { left } => {
                *left -= 1;
                if *left == 0 {
                    *state = ChunkState::Size { size: 0, digits: false, in_ext: false };
                }
            }
            ChunkState::Trailer { line_len } => match b {
                b'\n' if *line_len == 0 => return (i, true, true),
                b'\n' => *line_len = 0,
                b'\r' => {}
                _ => *line_len += 1,
            },
        }
    }
    (i, false, true)
}

export_toxic!(HttpFault);

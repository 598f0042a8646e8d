//! Test helpers: a fresh directory per test, the real binary, a loopback HTTP service.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A fresh temporary directory for one test.
pub struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new(name: &str) -> Dir {
        let tmp = tempfile::Builder::new().prefix(&format!("chaoskit-cli-{name}-")).tempdir().expect("temp dir");
        Dir { tmp }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}\n{}", self.listing()))
    }

    pub fn listing(&self) -> String {
        let mut out = String::new();
        for entry in walk(self.path()) {
            out.push_str(&format!("  {}\n", entry.display()));
        }
        out
    }

    /// The binary, run in this directory with user environment removed.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chaoskit-host"));
        cmd.args(args).current_dir(self.path()).env_remove("RUST_LOG").env("CI", "true").stdin(Stdio::null());
        // Compiled plugins are kept between runs, but under target/, not in the user's home.
        cmd.env("CHAOSKIT_CACHE_DIR", concat!(env!("CARGO_TARGET_TMPDIR"), "/chaoskit-plugin-cache"));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("spawn chaoskit-host");
        Run { args: args.iter().map(|s| s.to_string()).collect(), output, listing: self.listing() }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A finished run of the binary; explains itself on failure.
pub struct Run {
    args: Vec<String>,
    pub output: Output,
    listing: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn explain(&self) -> String {
        format!(
            "command: chaoskit-host {}\nexit: {:?}\nfiles:\n{}--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.output.status,
            self.listing,
            self.stdout(),
            self.stderr()
        )
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), code, "\n{}", self.explain());
        self
    }
}

/// A loopback HTTP service: `/ok` 200, `/fail` 500, `/slow` 200 after 300 ms, `/big/N` N MiB
/// then `END`; anything else 404. Lives until the test process ends.
pub fn http_service() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    port
}

fn serve(stream: TcpStream) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    if let Some(mib) = path.strip_prefix("/big/").and_then(|n| n.parse::<usize>().ok()) {
        // `mib` MiB of `x`, then `END`.
        let mut out = stream;
        let _ = write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", (mib << 20) + 3);
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..mib {
            if out.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = out.write_all(b"END");
        return;
    }
    let (status, body) = match path {
        "/ok" => ("200 OK", "fine"),
        "/fail" => ("500 Internal Server Error", "broken"),
        "/slow" => {
            std::thread::sleep(Duration::from_millis(300));
            ("200 OK", "slow")
        }
        _ => ("404 Not Found", "no"),
    };
    let mut out = stream;
    let _ = write!(out, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// The journal written by a run.
pub fn journal(dir: &Dir) -> serde_json::Value {
    serde_json::from_str(&dir.read("chaoskit-report/journal.json")).expect("journal is JSON")
}

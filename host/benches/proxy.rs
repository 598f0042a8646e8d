//! End-to-end figures of the chaos proxy against direct loopback, in the same run.
//!
//! Run with `cargo bench -p chaoskit-host --bench proxy` (the Wasm toxic is built from `plugins/`). The proxy runs in a child process (this
//! binary started with `--proxy-child`), configured through our HTTP client, so its memory can be
//! read from `/proc` without the load generator's. Prints, for no toxics:
//!
//! * throughput of a 1 GiB upload, direct and through the proxy, and their ratio;
//! * 64-byte echo round trips, p50 / p99 / p99.9, direct and through the proxy;
//! * the proxy's RSS when idle, and per idle connection;
//! * a 1 GiB transfer through the proxy checked with a running hash;
//! * throughput and 64-byte round trips with a toxic on the upstream stream: none, the built-in
//!   latency toxic at 0 ms, and a pass-through Wasm toxic (`bit_flip` at rate 0), plus the cost
//!   of one Wasm `filter` call by chunk size;
//! * how far the built-in latency toxic's round trip is from its setting (1, 3, 10, 50 ms).
//!
//! Sizes can be lowered for a quick look: `CHAOSKIT_BENCH_BYTES` (default 1 GiB),
//! `CHAOSKIT_BENCH_ROUND_TRIPS` (default 50 000), `CHAOSKIT_BENCH_CONNECTIONS` (default 2000).
//! `CHAOSKIT_BENCH_PROXY_THREADS` sets the proxy's tokio worker threads (default 0: a current-thread
//! runtime, the fastest on small machines).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chaoskit::proxy::{Client, Proxy, ProxyRegistry, ProxyServer, Stream, Toxic, ToxicKind};
use hdrhistogram::Histogram;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--proxy-child") {
        proxy_child();
        return;
    }
    let bytes = env_or("CHAOSKIT_BENCH_BYTES", 1 << 30);
    let round_trips = env_or("CHAOSKIT_BENCH_ROUND_TRIPS", 50_000);
    let connections = env_or("CHAOSKIT_BENCH_CONNECTIONS", 2000);

    let child = ChildProxy::spawn();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = Client::new(&child.url).unwrap();
    let create = |name: &str, upstream: SocketAddr| -> SocketAddr {
        let p = rt.block_on(client.create_proxy(&Proxy::new(name, "127.0.0.1:0", upstream.to_string()))).unwrap();
        p.listen.parse().unwrap()
    };

    println!(
        "## chaos proxy benchmark (no toxics; proxy in a child process, {} runtime)\n",
        match env_or("CHAOSKIT_BENCH_PROXY_THREADS", 0) {
            0 => "current-thread".to_owned(),
            n => format!("{n}-worker multi-thread"),
        }
    );

    // Throughput.
    let sink = sink_server(false);
    let via = create("sink", sink);
    let mut direct_runs = Vec::new();
    let mut proxy_runs = Vec::new();
    let mut proxy_cpu = Duration::ZERO;
    for _ in 0..3 {
        direct_runs.push(upload(sink, bytes, false).0);
        let cpu = child.cpu_time();
        proxy_runs.push(upload(via, bytes, false).0);
        proxy_cpu += child.cpu_time() - cpu;
    }
    let best = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    let (direct, proxied) = (best(&direct_runs), best(&proxy_runs));
    println!("throughput, {} MiB upload, best of 3:", bytes >> 20);
    println!("  direct  {direct:8.0} MB/s   runs {}", fmt_runs(&direct_runs));
    println!("  proxy   {proxied:8.0} MB/s   runs {}", fmt_runs(&proxy_runs));
    println!("  ratio   {:8.1} %", proxied / direct * 100.0);
    println!(
        "  proxy CPU time {:.2} s per GiB forwarded (user + system)",
        proxy_cpu.as_secs_f64() / (3.0 * bytes as f64 / (1u64 << 30) as f64)
    );

    // Round trips.
    let echo = echo_server();
    let via = create("echo", echo);
    let cpu = child.cpu_time();
    let (d, p) = round_trip_histograms(echo, via, round_trips);
    let rtt_cpu = child.cpu_time() - cpu;
    println!(
        "\n64-byte round trips ({round_trips} sequential each, one connection each, interleaved in blocks of 1000), µs:"
    );
    for (name, h) in [("direct", &d), ("proxy", &p)] {
        println!(
            "  {name:7} p50 {:6.1}  p99 {:6.1}  p99.9 {:6.1}  max {:8.1}",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.value_at_quantile(0.999) as f64 / 1000.0,
            h.max() as f64 / 1000.0
        );
    }
    println!(
        "  p50 ratio proxy/direct {:.2}x; proxy CPU time {:.1} µs per round trip (two hops)",
        p.value_at_quantile(0.5) as f64 / d.value_at_quantile(0.5) as f64,
        rtt_cpu.as_secs_f64() * 1e6 / (round_trips + 1000) as f64
    );

    // Toxics on the path: none, the built-in latency toxic at 0 ms, and a pass-through Wasm
    // toxic (`bit_flip` with rate 0: every chunk is copied into the guest and passed unchanged).
    toxic_comparison(&rt, &client, bytes, round_trips);

    // Memory per idle connection.
    let idle = child.rss_kib();
    let mut open = Vec::with_capacity(connections as usize);
    // One connection first so one-time costs (thread buffers, allocator arenas) are in the baseline.
    let mut warm = TcpStream::connect(via).unwrap();
    ping(&mut warm);
    std::thread::sleep(Duration::from_millis(200));
    let before = child.rss_kib();
    for _ in 0..connections {
        let mut s = TcpStream::connect(via).unwrap();
        ping(&mut s);
        open.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = child.rss_kib();
    println!("\nproxy RSS:");
    println!("  idle, 2 proxies, no connection  {idle} KiB");
    println!(
        "  {connections} idle connections (each after one round trip)  {after} KiB, {:.1} KiB per connection",
        (after.saturating_sub(before)) as f64 / connections as f64
    );
    drop(open);
    drop(warm);

    // Integrity at full size.
    let hashing = sink_server(true);
    let via = create("hash", hashing);
    let (rate, ok) = upload(via, bytes, true);
    println!(
        "\nintegrity: {} MiB through the proxy at {rate:.0} MB/s, running hash {}",
        bytes >> 20,
        if ok { "identical" } else { "DIFFERENT" }
    );
    assert!(ok, "bytes changed in transit");
}

/// The toxic configurations compared: (label, toxic on the upstream stream).
fn toxic_cases() -> Vec<(&'static str, Option<Toxic>)> {
    let mut pass = serde_json::Map::new();
    pass.insert("rate".into(), serde_json::json!(0.0));
    vec![
        ("no toxic", None),
        ("latency 0 ms", Some(Toxic::new("t", Stream::Upstream, ToxicKind::Latency { latency: 0, jitter: 0 }))),
        (
            "wasm pass-through",
            Some(Toxic::new(
                "t",
                Stream::Upstream,
                ToxicKind::Other { type_name: "bit_flip".into(), attributes: pass },
            )),
        ),
    ]
}

fn toxic_comparison(rt: &tokio::runtime::Runtime, client: &Client, bytes: u64, round_trips: u64) {
    println!("\n## toxics on the upstream stream: none, built-in latency 0 ms, Wasm pass-through (bit_flip rate 0)\n");
    let sink = sink_server(false);
    let echo = echo_server();
    let mut uploads: Vec<(&str, SocketAddr)> = Vec::new();
    let mut echoes: Vec<(&str, SocketAddr)> = Vec::new();
    for (i, (label, toxic)) in toxic_cases().into_iter().enumerate() {
        for (kind, upstream, list) in [("up", sink, &mut uploads), ("rt", echo, &mut echoes)] {
            let name = format!("{kind}{i}");
            let p = rt.block_on(client.create_proxy(&Proxy::new(&name, "127.0.0.1:0", upstream.to_string()))).unwrap();
            if let Some(t) = &toxic {
                rt.block_on(client.add_toxic(&name, t)).unwrap();
            }
            list.push((label, p.listen.parse().unwrap()));
        }
    }
    // Throughput: the cases interleaved, best of 3 each.
    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); uploads.len()];
    for _ in 0..3 {
        for (i, (_, via)) in uploads.iter().enumerate() {
            runs[i].push(upload(*via, bytes, false).0);
        }
    }
    let best = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    let base = best(&runs[0]);
    println!("throughput, {} MiB upload, best of 3:", bytes >> 20);
    for ((label, _), r) in uploads.iter().zip(&runs) {
        println!(
            "  {label:18} {:8.0} MB/s  {:6.1} % of no toxic   runs {}",
            best(r),
            best(r) / base * 100.0,
            fmt_runs(r)
        );
    }
    // Round trips: each case against no toxic, interleaved in blocks.
    println!("\n64-byte round trips ({round_trips} sequential each, interleaved with no toxic in blocks of 1000), µs:");
    let base_addr = echoes[0].1;
    for (label, via) in echoes.iter().skip(1) {
        let (b, h) = round_trip_histograms(base_addr, *via, round_trips);
        let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "  {label:18} p50 {:6.1}  p99 {:6.1}  p99.9 {:6.1}   no toxic p50 {:6.1}  p99 {:6.1}   p50 over no toxic {:+6.1}",
            us(&h, 0.5),
            us(&h, 0.99),
            us(&h, 0.999),
            us(&b, 0.5),
            us(&b, 0.99),
            us(&h, 0.5) - us(&b, 0.5)
        );
    }
    filter_cost();
    latency_accuracy(rt, client, echo);
}

/// How far the built-in latency toxic's round trip is from its setting (downstream toxic, 64
/// bytes, 2000 sequential round trips per setting).
fn latency_accuracy(rt: &tokio::runtime::Runtime, client: &Client, echo: SocketAddr) {
    println!("\nlatency toxic accuracy (downstream, 64-byte round trips, 2000 each), round trip minus setting, ms:");
    for latency in [1i64, 3, 10, 50] {
        let name = format!("lat{latency}");
        let p = rt.block_on(client.create_proxy(&Proxy::new(&name, "127.0.0.1:0", echo.to_string()))).unwrap();
        let lag = Toxic::new("lag", Stream::Downstream, ToxicKind::Latency { latency, jitter: 0 });
        rt.block_on(client.add_toxic(&name, &lag)).unwrap();
        let mut s = TcpStream::connect(p.listen.as_str()).unwrap();
        s.set_nodelay(true).unwrap();
        let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
        let (msg, mut back) = ([0x5au8; 64], [0u8; 64]);
        let rounds = if latency >= 50 { 200 } else { 2000 };
        for _ in 0..rounds {
            let start = Instant::now();
            s.write_all(&msg).unwrap();
            s.read_exact(&mut back).unwrap();
            h.record(start.elapsed().as_nanos() as u64).unwrap();
        }
        let over = |q: f64| (h.value_at_quantile(q) as f64 - latency as f64 * 1e6) / 1e6;
        println!("  {latency:3} ms   p50 {:+.3}   p99 {:+.3}   ({rounds} round trips)", over(0.5), over(0.99));
    }
}

/// Cost of one `filter` call of the pass-through Wasm toxic, in-process (no sockets), by chunk size.
fn filter_cost() {
    use chaoskit::Draws;
    use chaoskit::proxy::{ConnectionInfo, ToxicPlugin};
    use rand::SeedableRng;
    let host = chaoskit::plugin::PluginHost::new().unwrap();
    let toxic =
        host.load_toxic(chaoskit::plugin::PluginSpec::new(plugin_artifacts::path(plugin_artifacts::BIT_FLIP))).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let info = ConnectionInfo { proxy: "bench", toxic: "t", index: 0, stream: Stream::Upstream };
    let mut filter = toxic.open(r#"{"rate": 0.0}"#, &info, &mut Draws::from_rng(&mut rng)).unwrap();
    println!("\nper-chunk cost of the pass-through Wasm filter (in-process, median of 5 runs):");
    for size in [64usize, 1024, 32 * 1024] {
        let chunk = vec![7u8; size];
        let n = if size > 4096 { 20_000 } else { 200_000 };
        let mut times = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            for _ in 0..n {
                let steps = filter.filter(Stream::Upstream, &chunk, &mut Draws::from_rng(&mut rng)).unwrap();
                assert!(steps.is_empty());
            }
            times.push(start.elapsed().as_secs_f64() * 1e9 / n as f64);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "  {size:6} B chunk  {:8.0} ns per call  ({:.2} GB/s through the guest copy)",
            times[2],
            size as f64 / times[2]
        );
    }
    let open = Instant::now();
    let opens = 200;
    for i in 0..opens {
        let info = ConnectionInfo { index: i, ..info };
        drop(toxic.open(r#"{"rate": 0.0}"#, &info, &mut Draws::from_rng(&mut rng)).unwrap());
    }
    println!(
        "  opening a connection's filter (instantiate + configure + open, then close): {:.0} µs",
        open.elapsed().as_secs_f64() * 1e6 / opens as f64
    );
}

fn fmt_runs(v: &[f64]) -> String {
    v.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(" / ")
}

/// The proxy under test, in a child process running our API server.
struct ChildProxy {
    child: Child,
    url: String,
}

impl ChildProxy {
    fn spawn() -> ChildProxy {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--proxy-child")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        ChildProxy { child, url: line.trim().to_owned() }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl ChildProxy {
    /// User + system CPU time of the proxy process so far (`/proc/<pid>/stat`, clock ticks of 10 ms).
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name, which is in parentheses and may contain spaces.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After the command: state is field 3 of the line, utime and stime fields 14 and 15.
        let field = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        let ticks = field(14) + field(15);
        Duration::from_millis(ticks * 10)
    }
}

impl Drop for ChildProxy {
    fn drop(&mut self) {
        // Closing stdin asks the child to shut down cleanly.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Child side: serve the API on loopback, print its URL, stop when stdin closes.
fn proxy_child() {
    // CHAOSKIT_BENCH_PROXY_THREADS: tokio worker threads of the proxy; 0 runs a current-thread runtime.
    let rt = match env_or("CHAOSKIT_BENCH_PROXY_THREADS", 0) {
        0 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n as usize).enable_all().build(),
    }
    .unwrap();
    rt.block_on(async {
        // A pass-through Wasm toxic type for the toxic comparison.
        let host = chaoskit::plugin::PluginHost::new().unwrap();
        let toxic = host
            .load_toxic(chaoskit::plugin::PluginSpec::new(plugin_artifacts::path(plugin_artifacts::BIT_FLIP)))
            .unwrap();
        let registry = ProxyRegistry::builder().toxic_plugin(std::sync::Arc::new(toxic)).build();
        let server = ProxyServer::start("127.0.0.1:0", registry).await.unwrap();
        println!("{}", server.url());
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .unwrap();
        server.shutdown().await.unwrap();
    });
}

fn spawn_listener(handler: fn(TcpStream)) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || handler(s));
        }
    });
    addr
}

/// Reads everything; answers with 8 bytes of hash (or zeros) and the byte count, then closes.
fn sink_server(hash: bool) -> SocketAddr {
    if hash { spawn_listener(|s| sink(s, true)) } else { spawn_listener(|s| sink(s, false)) }
}

fn sink(mut s: TcpStream, hash: bool) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut digest = Digest::default();
    let mut total = 0u64;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n as u64;
                if hash {
                    digest.update(&buf[..n]);
                }
            }
        }
    }
    let mut answer = digest.finish().to_le_bytes().to_vec();
    answer.extend_from_slice(&total.to_le_bytes());
    let _ = s.write_all(&answer);
}

fn echo_server() -> SocketAddr {
    spawn_listener(|mut s| {
        let _ = s.set_nodelay(true);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

/// Uploads `bytes` of pseudo-random data; returns MB/s (until the sink's answer) and whether the
/// sink's byte count (and hash, when `check`) match.
fn upload(to: SocketAddr, bytes: u64, check: bool) -> (f64, bool) {
    let mut s = TcpStream::connect(to).unwrap();
    let mut block = vec![0u8; 256 * 1024];
    let mut state = 0x0123_4567_89ab_cdefu64;
    fill(&mut block, &mut state);
    let mut digest = Digest::default();
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < bytes {
        let n = block.len().min((bytes - sent) as usize);
        if check {
            // New content per block so a reordering or a repeat would change the hash.
            fill(&mut block[..n], &mut state);
            digest.update(&block[..n]);
        }
        s.write_all(&block[..n]).unwrap();
        sent += n as u64;
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = [0u8; 16];
    s.read_exact(&mut answer).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let got_hash = u64::from_le_bytes(answer[..8].try_into().unwrap());
    let got_len = u64::from_le_bytes(answer[8..].try_into().unwrap());
    let ok = got_len == bytes && (!check || got_hash == digest.finish());
    (bytes as f64 / secs / 1e6, ok)
}

fn fill(block: &mut [u8], state: &mut u64) {
    for c in block.chunks_mut(8) {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        c.copy_from_slice(&z.to_le_bytes()[..c.len()]);
    }
}

fn ping(s: &mut TcpStream) {
    s.write_all(b"p").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
}

/// Round trips on one direct and one proxied connection, alternating blocks of 1000 so that both
/// see the same background load.
fn round_trip_histograms(direct: SocketAddr, proxied: SocketAddr, n: u64) -> (Histogram<u64>, Histogram<u64>) {
    let connect = |to| {
        let s = TcpStream::connect(to).unwrap();
        s.set_nodelay(true).unwrap();
        s
    };
    let mut conns = [connect(direct), connect(proxied)];
    let mut hists = [
        Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap(),
        Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap(),
    ];
    let msg = [0x5au8; 64];
    let mut back = [0u8; 64];
    // One warm-up block each, unrecorded.
    for block in 0..(n / 1000 + 1) * 2 {
        let which = (block % 2) as usize;
        for _ in 0..1000 {
            let start = Instant::now();
            conns[which].write_all(&msg).unwrap();
            conns[which].read_exact(&mut back).unwrap();
            if block >= 2 {
                hists[which].record(start.elapsed().as_nanos() as u64).unwrap();
            }
        }
    }
    let [d, p] = hists;
    (d, p)
}

/// Running hash over a byte stream, independent of chunking (same as the integration test's).
#[derive(Default)]
struct Digest {
    h: u64,
    tail: Vec<u8>,
}

impl Digest {
    fn word(&mut self, w: u64) {
        self.h = (self.h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31);
    }

    fn update(&mut self, mut data: &[u8]) {
        if !self.tail.is_empty() {
            let take = (8 - self.tail.len()).min(data.len());
            self.tail.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.tail.len() < 8 {
                return;
            }
            let w = u64::from_le_bytes(self.tail[..8].try_into().unwrap());
            self.word(w);
            self.tail.clear();
        }
        let mut words = data.chunks_exact(8);
        for c in &mut words {
            self.word(u64::from_le_bytes(c.try_into().unwrap()));
        }
        self.tail.extend_from_slice(words.remainder());
    }

    fn finish(mut self) -> u64 {
        for b in std::mem::take(&mut self.tail) {
            self.word(u64::from(b));
        }
        self.h
    }
}

//! Integration tests of the chaos proxy: toxics on real loopback connections, the HTTP API, the client.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chaoskit::proxy::{Proxy, ProxyRegistry, ProxyUpdate, Stream, Toxic, ToxicKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Generous bound for "this should be quick" on a loaded 2-core CI box.
const SLACK: Duration = Duration::from_secs(5);

/// An upstream that echoes every byte and half-closes after the client's EOF.
async fn echo_upstream() -> SocketAddr {
    serve_upstream(|mut s| async move {
        let (mut r, mut w) = s.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
        let _ = w.shutdown().await;
    })
    .await
}

/// Spawns an upstream running `handler` for each connection.
async fn serve_upstream<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(handler(s));
        }
    });
    addr
}

async fn proxy_to(upstream: SocketAddr) -> (ProxyRegistry, SocketAddr) {
    proxy_to_seeded(upstream, 1).await
}

async fn proxy_to_seeded(upstream: SocketAddr, seed: u64) -> (ProxyRegistry, SocketAddr) {
    let registry = ProxyRegistry::builder().seed(seed).build();
    let p = registry
        .create(Proxy::new("p", "127.0.0.1:0", upstream.to_string()))
        .await
        .unwrap();
    (registry, p.listen.parse().unwrap())
}

async fn add(registry: &ProxyRegistry, name: &str, stream: Stream, kind: ToxicKind) {
    registry
        .add_toxic("p", Toxic::new(name, stream, kind))
        .await
        .unwrap();
}

/// Reads until EOF or error, within `limit`; returns the bytes and how the stream ended.
async fn read_all(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, std::io::Result<()>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await {
            Err(_) => return (out, Err(std::io::ErrorKind::TimedOut.into())),
            Ok(Ok(0)) => return (out, Ok(())),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return (out, Err(e)),
        }
    }
}

async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Duration {
    let start = Instant::now();
    s.write_all(msg).await.unwrap();
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(SLACK * 2, s.read_exact(&mut back))
        .await
        .expect("echo timed out")
        .unwrap();
    assert_eq!(back, msg);
    start.elapsed()
}

mod toxics {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bytes_pass_through_unchanged_without_toxics() {
        let (_reg, addr) = proxy_to(echo_upstream().await).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        round_trip(&mut s, b"hello through the proxy").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn half_close_reaches_the_upstream_and_its_reply_still_arrives() {
        // The upstream reads until EOF, then answers: Toxiproxy loses this reply.
        let upstream = serve_upstream(|mut s| async move {
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            s.write_all(format!("REPLY:{}", got.len()).as_bytes())
                .await
                .unwrap();
        })
        .await;
        let (_reg, addr) = proxy_to(upstream).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"hello").await.unwrap();
        s.shutdown().await.unwrap();
        let (got, end) = read_all(&mut s, SLACK).await;
        end.unwrap();
        assert_eq!(got, b"REPLY:5");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn latency_delays_each_round_trip_within_bounds() {
        let (reg, addr) = proxy_to(echo_upstream().await).await;
        add(
            &reg,
            "lag",
            Stream::Downstream,
            ToxicKind::Latency {
                latency: 100,
                jitter: 20,
            },
        )
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        for _ in 0..5 {
            let rtt = round_trip(&mut s, b"ping").await;
            assert!(
                rtt >= Duration::from_millis(80),
                "round trip {rtt:?} under latency - jitter"
            );
            assert!(
                rtt < Duration::from_millis(100) + SLACK,
                "round trip {rtt:?}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn latency_pipelines_back_to_back_chunks() {
        let (reg, addr) = proxy_to(echo_upstream().await).await;
        add(
            &reg,
            "lag",
            Stream::Upstream,
            ToxicKind::Latency {
                latency: 300,
                jitter: 0,
            },
        )
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        for _ in 0..10 {
            s.write_all(b"x").await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut back = [0u8; 10];
        s.read_exact(&mut back).await.unwrap();
        let elapsed = start.elapsed();
        // Ten sequential 300 ms delays would take 3 s; pipelined they take about 400 ms.
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bandwidth_limits_the_rate() {
        const BYTES: usize = 300_000;
        let upstream = serve_upstream(|mut s| async move {
            let _ = s.write_all(&vec![7u8; BYTES]).await;
        })
        .await;
        let (reg, addr) = proxy_to(upstream).await;
        // 200 KB/s: 300 kB take 1.5 s.
        add(
            &reg,
            "bw",
            Stream::Downstream,
            ToxicKind::Bandwidth { rate: 200 },
        )
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        let (got, end) = read_all(&mut s, Duration::from_secs(20)).await;
        end.unwrap();
        let elapsed = start.elapsed();
        assert_eq!(got.len(), BYTES);
        let rate = BYTES as f64 / elapsed.as_secs_f64() / 1000.0;
        assert!(
            (120.0..=220.0).contains(&rate),
            "measured {rate:.1} KB/s for 200 KB/s ({elapsed:?})"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn limit_data_upstream_forwards_exactly_the_limit_then_eof() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        let upstream = serve_upstream(move |mut s| {
            let tx = tx.lock().unwrap().take();
            async move {
                let mut got = Vec::new();
                let r = s.read_to_end(&mut got).await;
                if let Some(tx) = tx {
                    let _ = tx.send((got, r.is_ok()));
                }
            }
        })
        .await;
        let (reg, addr) = proxy_to(upstream).await;
        add(
            &reg,
            "cap",
            Stream::Upstream,
            ToxicKind::LimitData { bytes: 10 },
        )
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"0123456789abcdef").await.unwrap();
        let (got, clean) = tokio::time::timeout(SLACK, rx).await.unwrap().unwrap();
        assert_eq!(got, b"0123456789");
        assert!(clean, "the upstream should see a clean EOF");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn limit_data_downstream_delivers_exactly_the_limit_then_eof() {
        let upstream = serve_upstream(|mut s| async move {
            let _ = s.write_all(&[b'z'; 100_000]).await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        })
        .await;
        let (reg, addr) = proxy_to(upstream).await;
        add(
            &reg,
            "cap",
            Stream::Downstream,
            ToxicKind::LimitData { bytes: 12_345 },
        )
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let (got, end) = read_all(&mut s, SLACK).await;
        end.unwrap();
        assert_eq!(got.len(), 12_345);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn timeout_swallows_data_and_closes_after_the_timeout() {
        let (reg, addr) = proxy_to(echo_upstream().await).await;
        add(
            &reg,
            "t",
            Stream::Downstream,
            ToxicKind::Timeout { timeout: 500 },
        )
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        s.write_all(b"anyone there?").await.unwrap();
        let (got, end) = read_all(&mut s, SLACK * 2).await;
        let elapsed = start.elapsed();
        assert!(got.is_empty(), "timeout must drop data, got {got:?}");
        assert!(
            end.is_ok() || end.as_ref().unwrap_err().kind() != std::io::ErrorKind::TimedOut,
            "{end:?}"
        );
        assert!(
            elapsed >= Duration::from_millis(450),
            "closed after {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_millis(500) + SLACK,
            "closed after {elapsed:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn timeout_zero_holds_the_connection_until_the_toxic_is_removed() {
        let (reg, addr) = proxy_to(echo_upstream().await).await;
        add(
            &reg,
            "t",
            Stream::Downstream,
            ToxicKind::Timeout { timeout: 0 },
        )
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 16];
        let held = tokio::time::timeout(Duration::from_millis(800), s.read(&mut buf)).await;
        assert!(
            held.is_err(),
            "the connection should stay silent and open, got {held:?}"
        );
        // Like Toxiproxy, removing the timeout closes the connection rather than resuming with a hole.
        reg.remove_toxic("p", "t").await.unwrap();
        s.write_all(b"more").await.unwrap();
        let (got, end) = read_all(&mut s, SLACK).await;
        assert!(got.is_empty(), "{got:?}");
        assert!(!matches!(end, Err(ref e) if e.kind() == std::io::ErrorKind::TimedOut));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reset_peer_resets_the_client_connection() {
        let (reg, addr) = proxy_to(echo_upstream().await).await;
        add(
            &reg,
            "rst",
            Stream::Upstream,
            ToxicKind::ResetPeer { timeout: 0 },
        )
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"hello").await.unwrap();
        let (got, end) = read_all(&mut s, SLACK).await;
        assert!(got.is_empty());
        assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reset_peer_waits_its_timeout() {
        let (reg, addr) = proxy_to(echo_upstream().await).await;
        add(
            &reg,
            "rst",
            Stream::Upstream,
            ToxicKind::ResetPeer { timeout: 400 },
        )
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        s.write_all(b"hello").await.unwrap();
        let (_, end) = read_all(&mut s, SLACK).await;
        assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
        assert!(
            start.elapsed() >= Duration::from_millis(350),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slicer_delivers_small_slices_to_the_upstream() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        let upstream = serve_upstream(move |mut s| {
            let tx = tx.lock().unwrap().take();
            async move {
                let mut sizes = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    sizes.push(n);
                }
                if let Some(tx) = tx {
                    let _ = tx.send(sizes);
                }
            }
        })
        .await;
        let (reg, addr) = proxy_to(upstream).await;
        add(
            &reg,
            "slices",
            Stream::Upstream,
            ToxicKind::Slicer {
                average_size: 100,
                size_variation: 20,
                delay: 50_000,
            },
        )
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&[1u8; 1000]).await.unwrap();
        s.shutdown().await.unwrap();
        let sizes = tokio::time::timeout(SLACK * 2, rx).await.unwrap().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 1000);
        assert!(sizes.len() >= 8, "expected about 10 slices, got {sizes:?}");
        assert!(
            sizes.iter().all(|&n| n <= 120),
            "a slice exceeded 100 + 20 bytes: {sizes:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_close_delays_the_eof_but_not_the_data() {
        let (reg, addr) = proxy_to(echo_upstream().await).await;
        add(
            &reg,
            "sc",
            Stream::Downstream,
            ToxicKind::SlowClose { delay: 400 },
        )
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let rtt = round_trip(&mut s, b"data").await;
        assert!(
            rtt < Duration::from_millis(400),
            "data must not wait for the close delay: {rtt:?}"
        );
        let start = Instant::now();
        s.shutdown().await.unwrap();
        let (got, end) = read_all(&mut s, SLACK).await;
        end.unwrap();
        assert!(got.is_empty());
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(380),
            "EOF after {elapsed:?}"
        );
    }

    /// Whether `limit_data` of 3 bytes (with the given toxicity) cut a 10-byte echo, per connection.
    async fn truncations(seed: u64, toxicity: f32, connections: usize) -> Vec<bool> {
        let (reg, addr) = proxy_to_seeded(echo_upstream().await, seed).await;
        reg.add_toxic(
            "p",
            Toxic::new("cap", Stream::Downstream, ToxicKind::LimitData { bytes: 3 })
                .with_toxicity(toxicity),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        for _ in 0..connections {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"0123456789").await.unwrap();
            s.shutdown().await.unwrap();
            let (got, _) = read_all(&mut s, SLACK).await;
            assert!(got.len() == 3 || got.len() == 10, "{got:?}");
            out.push(got.len() == 3);
        }
        reg.shutdown().await;
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn toxicity_zero_never_applies_and_one_always_does() {
        assert_eq!(truncations(1, 0.0, 20).await, vec![false; 20]);
        assert_eq!(truncations(1, 1.0, 20).await, vec![true; 20]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_same_seed_replays_the_same_toxicity_draws() {
        let a = truncations(7, 0.5, 24).await;
        let b = truncations(7, 0.5, 24).await;
        assert_eq!(a, b);
        assert!(
            a.contains(&true) && a.contains(&false),
            "toxicity 0.5 should mix: {a:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_toxic_added_to_a_live_connection_applies_to_its_next_chunks() {
        let (reg, addr) = proxy_to(echo_upstream().await).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        round_trip(&mut s, b"before").await;
        add(
            &reg,
            "cap",
            Stream::Downstream,
            ToxicKind::LimitData { bytes: 2 },
        )
        .await;
        s.write_all(b"after").await.unwrap();
        let (got, end) = read_all(&mut s, SLACK).await;
        end.unwrap();
        assert_eq!(got, b"af");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn disabling_a_proxy_closes_its_connections_and_refuses_new_ones() {
        let (reg, addr) = proxy_to(echo_upstream().await).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        round_trip(&mut s, b"up").await;
        let p = reg
            .update("p", ProxyUpdate::new().enabled(false))
            .await
            .unwrap();
        assert!(!p.enabled);
        assert_eq!(p.listen, addr.to_string());
        let (got, end) = read_all(&mut s, SLACK).await;
        assert!(got.is_empty());
        assert!(!matches!(end, Err(ref e) if e.kind() == std::io::ErrorKind::TimedOut));
        let refused = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        reg.update("p", ProxyUpdate::new().enabled(true))
            .await
            .unwrap();
        let mut again = TcpStream::connect(addr).await.unwrap();
        round_trip(&mut again, b"back").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_upstream_resets_the_client() {
        let dead = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let (_reg, addr) = proxy_to(dead).await;
        // The reset can race the end of the handshake, so it shows on connect or on the first read.
        let end = match TcpStream::connect(addr).await {
            Ok(mut s) => read_all(&mut s, SLACK).await.1,
            Err(e) => Err(e),
        };
        assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn five_hundred_concurrent_connections_all_echo() {
        let (reg, addr) = proxy_to(echo_upstream().await).await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(500));
        let tasks: Vec<_> = (0..500u32)
            .map(|i| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    // Everyone is connected before anyone talks, so all 500 are open at once.
                    barrier.wait().await;
                    let msg = format!("connection {i} ").repeat(64);
                    round_trip(&mut s, msg.as_bytes()).await;
                    s.shutdown().await.unwrap();
                    let (rest, end) = read_all(&mut s, SLACK * 2).await;
                    end.unwrap();
                    assert!(rest.is_empty());
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        reg.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_closes_every_connection_and_listener() {
        let (reg, addr) = proxy_to(echo_upstream().await).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        round_trip(&mut s, b"x").await;
        tokio::time::timeout(SLACK, reg.shutdown()).await.unwrap();
        let (_, end) = read_all(&mut s, SLACK).await;
        assert!(!matches!(end, Err(ref e) if e.kind() == std::io::ErrorKind::TimedOut));
        assert!(TcpStream::connect(addr).await.is_err());
        assert!(reg.list().await.is_err());
    }
}

mod integrity {
    use super::*;

    /// A running hash over a byte stream, independent of how the stream is chunked.
    #[derive(Default)]
    struct Digest {
        h: u64,
        tail: Vec<u8>,
        len: u64,
    }

    impl Digest {
        fn word(&mut self, w: u64) {
            self.h = (self.h ^ w)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .rotate_left(31);
        }

        fn update(&mut self, mut data: &[u8]) {
            self.len += data.len() as u64;
            if !self.tail.is_empty() {
                let need = 8 - self.tail.len();
                let take = need.min(data.len());
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

        fn finish(mut self) -> (u64, u64) {
            let tail = std::mem::take(&mut self.tail);
            for b in tail {
                self.word(u64::from(b));
            }
            (self.h, self.len)
        }
    }

    /// Bytes to send: `CHAOSKIT_PROXY_INTEGRITY_BYTES`, else 64 MiB in debug builds and 1 GiB in
    /// optimised ones (the benchmark always moves 1 GiB).
    fn size() -> u64 {
        std::env::var("CHAOSKIT_PROXY_INTEGRITY_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if cfg!(debug_assertions) {
                64 << 20
            } else {
                1 << 30
            })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_transfer_echoes_back_byte_identical() {
        let total = size();
        let (_reg, addr) = proxy_to(echo_upstream().await).await;
        let s = TcpStream::connect(addr).await.unwrap();
        let (mut r, mut w) = s.into_split();
        let writer = tokio::spawn(async move {
            let mut digest = Digest::default();
            let mut state = 0x1234_5678_9abc_def0u64;
            let mut block = vec![0u8; 256 * 1024 + 13];
            let mut sent = 0u64;
            while sent < total {
                let n = block.len().min((total - sent) as usize);
                for c in block[..n].chunks_mut(8) {
                    // splitmix64
                    state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let mut z = state;
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    z ^= z >> 31;
                    c.copy_from_slice(&z.to_le_bytes()[..c.len()]);
                }
                digest.update(&block[..n]);
                w.write_all(&block[..n]).await.unwrap();
                sent += n as u64;
            }
            w.shutdown().await.unwrap();
            digest.finish()
        });
        let mut digest = Digest::default();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            digest.update(&buf[..n]);
        }
        let sent = writer.await.unwrap();
        let received = digest.finish();
        assert_eq!(received.1, total);
        assert_eq!(received, sent);
    }
}

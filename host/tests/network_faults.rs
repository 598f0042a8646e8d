//! Network fault injectors acting on a real chaos proxy (in-process and through the HTTP API),
//! with real loopback connections.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chaoskit::proxy::{Client, Proxy, ProxyRegistry, ProxyServer, Stream, ToxicKind};
use chaoskit::{BoxError, JournalConfig, RunError, Scenario, inject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server on 127.0.0.1.
async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn proxied_echo(registry: &ProxyRegistry) -> SocketAddr {
    let upstream = echo().await;
    let proxy = registry.create(Proxy::new("echo", "127.0.0.1:0", upstream.to_string())).await.unwrap();
    proxy.listen.parse().unwrap()
}

/// One round trip through the proxy; returns how long it took.
async fn round_trip(addr: SocketAddr) -> Result<Duration, BoxError> {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf)).await??;
    if &buf != b"ping" {
        return Err("echo mismatch".into());
    }
    Ok(started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_iteration_latency_toxic_slows_exactly_the_iterations_that_drew_it() -> Result<(), BoxError> {
    let registry = ProxyRegistry::new();
    let addr = proxied_echo(&registry).await;
    let scenario = Scenario::builder("latency per iteration")
        .target(chaoskit::target("echo", addr))
        .step("round trip", |ctx, addr| async move {
            let took = round_trip(**addr).await?;
            ctx.record_metric("round_trip_ms", took.as_secs_f64() * 1e3);
            Ok::<_, BoxError>(())
        })
        .inject(
            "slow link",
            inject::proxy_toxic(
                registry.clone(),
                "echo",
                Stream::Downstream,
                ToxicKind::Latency { latency: 60, jitter: 0 },
            )
            .probability(0.5)
            .per_iteration(),
        )
        .journal(JournalConfig::keep_all())
        .repeat(16)
        .seed(21)
        .build()?;
    let report = chaoskit::run(scenario).await?;
    assert!(report.is_success(), "{}", report.to_text());
    let fired = report.samples.iter().filter(|r| !r.decisions.is_empty()).count();
    assert!(fired > 0 && fired < 16, "{fired} of 16 iterations drew the toxic");
    for r in &report.samples {
        let ms = match r.events.iter().find_map(|e| match e {
            chaoskit::Event::Metric(n, v) if n == "round_trip_ms" => Some(*v),
            _ => None,
        }) {
            Some(ms) => ms,
            None => panic!("iteration {} recorded no round trip", r.index),
        };
        if r.decisions.is_empty() {
            assert!(ms < 55.0, "iteration {} was slow ({ms} ms) without the toxic", r.index);
        } else {
            assert!(ms >= 60.0, "iteration {} drew the toxic but took {ms} ms", r.index);
            assert_eq!(r.decisions[0].injector, "slow link");
            assert_eq!(r.decisions[0].point, "iteration");
        }
    }
    assert!(registry.toxics("echo").await?.is_empty(), "the toxic is gone after the run");
    Ok(())
}

#[tokio::test]
async fn a_whole_run_proxy_down_fault_breaks_connections_and_is_undone_at_stop() -> Result<(), BoxError> {
    let registry = ProxyRegistry::new();
    let addr = proxied_echo(&registry).await;
    let scenario = Scenario::builder("proxy down")
        .target(chaoskit::target("echo", addr))
        .step("round trip", |_, addr| async move { round_trip(**addr).await.map(drop) })
        .inject("outage", inject::proxy_down(registry.clone(), "echo"))
        .continue_on_failure()
        .repeat(3)
        .build()?;
    let report = chaoskit::run(scenario).await?;
    assert_eq!(report.iterations.failed, 3, "{}", report.to_text());
    assert!(registry.get("echo").await?.enabled, "re-enabled at stop");
    round_trip(addr).await?;
    Ok(())
}

#[tokio::test]
async fn a_remote_toxic_goes_through_the_toxiproxy_api_and_is_removed_when_a_later_start_fails() -> Result<(), BoxError>
{
    let registry = ProxyRegistry::new();
    let addr = proxied_echo(&registry).await;
    let server = ProxyServer::start("127.0.0.1:0", registry.clone()).await?;
    let client = Client::new(&server.url())?;
    let scenario = Scenario::builder("remote")
        .target(chaoskit::target("echo", addr))
        .step("round trip", |_, addr| async move { round_trip(**addr).await.map(drop) })
        .inject(
            "remote slow",
            inject::proxy_toxic(client, "echo", Stream::Upstream, ToxicKind::Latency { latency: 5, jitter: 0 }),
        )
        .inject("broken", inject::memory(usize::MAX / 2))
        .build()?;
    let err = chaoskit::run(scenario).await.unwrap_err();
    assert!(matches!(err, RunError::InjectorStart { ref label, .. } if label == "broken"), "{err}");
    assert!(registry.toxics("echo").await?.is_empty(), "the remote toxic was removed on the failure path");
    server.shutdown().await?;
    Ok(())
}

#[test]
fn invalid_toxic_attributes_are_rejected_at_build() {
    let registry = ProxyRegistry::new();
    let err = Scenario::builder("bad")
        .target(chaoskit::target("t", ()))
        .inject("zero rate", inject::proxy_toxic(registry, "db", Stream::Downstream, ToxicKind::Bandwidth { rate: 0 }))
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().starts_with("injector `zero rate` in scenario `bad`: proxy `db`: "), "{err}");
}

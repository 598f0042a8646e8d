//! The decision seam end to end: every decision journaled (proxy and Wasm included) and
//! identical at any concurrency, contexts inert after their run, and a failing iteration
//! replayed and shrunk through the library.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chaoskit::plugin::{Limits, LoadedPlugin, PluginHost, PluginSpec};
use chaoskit::proxy::{Proxy, ProxyRegistry, Stream, ToxicKind};
use chaoskit::replay::{ReplayMode, ReplaySession};
use chaoskit::{Action, BoxError, ChaosContext, JournalConfig, Report, Scenario, inject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Res = Result<(), BoxError>;

/// An echo server on 127.0.0.1 behind an in-process proxy called `echo`.
async fn proxied_echo(registry: &ProxyRegistry) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let proxy = registry.create(Proxy::new("echo", "127.0.0.1:0", upstream.to_string())).await.unwrap();
    proxy.listen.parse().unwrap()
}

async fn round_trip(addr: SocketAddr) -> Result<(), BoxError> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf)).await??;
    Ok(())
}

/// Every decision of a run, iteration by iteration, then the run-level ones.
fn decisions(report: &Report) -> String {
    let mut all: Vec<_> = report.failures.iter().chain(&report.samples).collect();
    all.sort_by_key(|r| r.index);
    let mut lines: Vec<String> =
        all.iter().map(|r| format!("{} {}", r.index, serde_json::to_string(&r.decisions).unwrap())).collect();
    lines.push(format!("run {}", serde_json::to_string(&report.run_decisions).unwrap()));
    lines.join("\n")
}

fn latency_spike() -> Box<dyn chaoskit::Injector> {
    let host = PluginHost::new().unwrap();
    let spec = PluginSpec::new(plugin_artifacts::LATENCY_SPIKE)
        .named("spike")
        .config(r#"{"period": 4, "burst": 2, "min_ms": 1, "max_ms": 2, "probability": 0.5}"#)
        // A generous deadline: a call cut short on a loaded machine fails open, which the
        // report names as a replay hazard (checked below) and would change the journal.
        .limits(Limits::default().instances(8).decide_deadline(Duration::from_secs(2)));
    match host.load(spec).unwrap() {
        LoadedPlugin::Injector(i) => Box::new(i),
        _ => panic!("latency-spike is an injector"),
    }
}

async fn proxied_run(concurrency: usize) -> Result<Report, BoxError> {
    let registry = ProxyRegistry::builder().seed(5).build();
    let addr = proxied_echo(&registry).await;
    let scenario = Scenario::builder("seam")
        .target(chaoskit::target("echo", addr))
        .step("round trip", |ctx, addr| async move {
            ctx.maybe_delay().await;
            round_trip(**addr).await
        })
        .inject(
            "slow link",
            inject::proxy_toxic(
                registry.clone(),
                "echo",
                Stream::Downstream,
                ToxicKind::Latency { latency: 2, jitter: 0 },
            )
            .probability(0.3)
            .per_iteration(),
        )
        .inject(
            "whole-run slicer",
            inject::proxy_toxic(
                registry.clone(),
                "echo",
                Stream::Upstream,
                ToxicKind::Slicer { average_size: 2, size_variation: 1, delay: 10 },
            )
            .probability(0.5),
        )
        .inject("spike", latency_spike())
        .inject("jitter", inject::delay(0.2, Duration::from_micros(10), Duration::from_micros(300)))
        .journal(JournalConfig::keep_all())
        .concurrency(concurrency)
        .repeat(80)
        .seed(2024)
        .build()?;
    Ok(chaoskit::run(scenario).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn journals_are_identical_at_concurrency_1_and_4_with_a_proxy_toxic_and_a_wasm_injector() -> Res {
    let one = proxied_run(1).await?;
    let four = proxied_run(4).await?;
    assert!(one.is_success(), "{}", one.to_text());
    for label in ["slow link", "spike", "jitter"] {
        let i = one.injectors.iter().find(|i| i.label == label).unwrap();
        assert!(!i.injections.is_empty(), "{label} fired");
    }
    assert!(one.run_decisions.iter().any(|d| d.point == "run"), "the whole-run decision is journaled");
    assert!(one.replay_hazards.is_empty(), "{:?}", one.replay_hazards);
    assert!(four.replay_hazards.is_empty(), "{:?}", four.replay_hazards);
    assert_eq!(decisions(&one), decisions(&four));
    Ok(())
}

#[tokio::test]
async fn a_toxicity_draw_of_the_proxy_is_journaled_and_named_as_a_hazard() -> Res {
    let log = chaoskit::chaos::DecisionLog::new();
    let registry = ProxyRegistry::builder().seed(3).decisions(log.clone()).build();
    let addr = proxied_echo(&registry).await;
    registry
        .add_toxic(
            "echo",
            chaoskit::proxy::Toxic::new("sometimes", Stream::Downstream, ToxicKind::Latency { latency: 1, jitter: 0 })
                .with_toxicity(0.5),
        )
        .await?;
    let scenario = Scenario::builder("toxicity")
        .target(chaoskit::target("echo", addr))
        .step("round trip", |_ctx, addr| async move { round_trip(**addr).await })
        .decision_log(log)
        .repeat(20)
        .seed(1)
        .build()?;
    let report = chaoskit::run(scenario).await?;
    let drawn: Vec<_> = report.run_decisions.iter().filter(|d| d.injector == "proxy echo").collect();
    assert!(!drawn.is_empty() && drawn.len() < 20, "{} of 20 connections drew the toxic", drawn.len());
    assert!(drawn.iter().all(|d| d.point == "sometimes"));
    assert!(report.replay_hazards.iter().any(|h| h.contains("toxicity 0.5")), "{:?}", report.replay_hazards);
    Ok(())
}

#[tokio::test]
async fn a_context_kept_past_its_run_injects_nothing() -> Res {
    let kept: Arc<Mutex<Option<ChaosContext>>> = Arc::default();
    let keep = kept.clone();
    let scenario = Scenario::builder("escape")
        .target(chaoskit::target("t", ()))
        .step("leak the context", move |ctx, _| {
            let keep = keep.clone();
            async move {
                *keep.lock().unwrap() = Some(ctx.clone());
                Ok::<_, BoxError>(())
            }
        })
        .inject("err", inject::error(1.0))
        .inject("fp", inject::failpoint("x", 1.0, Action::Error("boom".into())))
        .inject("slow", inject::delay(1.0, Duration::from_secs(5), Duration::from_secs(5)))
        .inject("cancel", inject::cancel(1.0))
        .inject("panic", inject::panic(1.0))
        .repeat(1)
        .build()?;
    let report = chaoskit::run(scenario).await?;
    assert!(report.is_success(), "{}", report.to_text());
    let ctx = kept.lock().unwrap().take().expect("the step kept its context");
    // During the run, every one of these would have fired.
    assert!(ctx.maybe_error().is_ok());
    assert!(ctx.failpoint("x").await.is_ok());
    assert_eq!(ctx.maybe_delay().await, Duration::ZERO);
    assert!(!ctx.maybe_cancel().is_cancelled());
    ctx.maybe_panic();
    assert_eq!(ctx.decide(chaoskit::PointKind::Error, None), Action::None);
    Ok(())
}

/// A service whose bug needs two faults together: `a` and `b` must both fire in one
/// iteration; the delays are noise.
fn two_fault_scenario(seed: u64) -> Scenario<chaoskit::NamedTarget<()>> {
    Scenario::builder("two faults")
        .target(chaoskit::target("t", ()))
        .step("work", |ctx, _| async move {
            ctx.maybe_delay().await;
            let a = ctx.failpoint("a").await.is_err();
            ctx.maybe_delay().await;
            let b = ctx.failpoint("b").await.is_err();
            ctx.maybe_delay().await;
            if a && b { Err::<(), BoxError>("both broke: inconsistent state".into()) } else { Ok(()) }
        })
        .inject("noise", inject::delay(0.6, Duration::from_micros(10), Duration::from_micros(100)))
        .inject("fault a", inject::failpoint("a", 0.3, Action::Error("a down".into())))
        .inject("fault b", inject::failpoint("b", 0.3, Action::Error("b down".into())))
        .continue_on_failure()
        .thresholds(chaoskit::Thresholds::relaxed().min_success_rate(0.0))
        .repeat(100)
        .seed(seed)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_failing_iteration_replays_every_time_and_shrinks_to_the_two_faults_that_matter() -> Res {
    let report = chaoskit::run(two_fault_scenario(9)).await?;
    let failed =
        report.failures.iter().max_by_key(|r| r.decisions.len()).expect("some iteration drew both faults").clone();
    assert!(failed.decisions.len() >= 3, "noise to shrink away: {:?}", failed.decisions);

    let mut session = ReplaySession::start(two_fault_scenario(9), Some(&report.run_decisions))?;
    let exact = chaoskit::replay::replay(&mut session, &failed, &failed.decisions, 20, ReplayMode::Schedule).await?;
    assert_eq!((exact.reproduced, exact.times), (20, 20));
    let seeded = chaoskit::replay::replay(&mut session, &failed, &failed.decisions, 5, ReplayMode::Seeded).await?;
    assert!(seeded.always() && seeded.decisions_matched, "{seeded:?}");

    let shrunk = chaoskit::replay::shrink(&mut session, &failed, 50).await?;
    assert!(shrunk.reproducible && !shrunk.budget_exhausted, "{shrunk:?}");
    let mut labels: Vec<&str> = shrunk.minimal.iter().map(|d| d.injector.as_str()).collect();
    labels.sort();
    assert_eq!(labels, ["fault a", "fault b"], "{shrunk:?}");
    assert!(shrunk.replays <= 50);

    // The minimal schedule alone still breaks the iteration; without `b` it passes.
    let again = session.run(failed.index, Some(&shrunk.minimal)).await?;
    assert_eq!(again.error, failed.error);
    let only_a: Vec<_> = shrunk.minimal.iter().filter(|d| d.injector == "fault a").cloned().collect();
    assert!(session.run(failed.index, Some(&only_a)).await?.ok);
    let replays = session.finish().await?;
    assert!(replays.iterations.total >= 27, "the session's own report counts its replays");
    Ok(())
}

#[tokio::test]
async fn a_schedule_naming_an_unknown_injector_is_refused_by_name() {
    let mut session = ReplaySession::start(two_fault_scenario(1), None).unwrap();
    let bogus = chaoskit::journal::DecisionRecord {
        injector: "fault c".into(),
        kind: chaoskit::PointKind::Failpoint,
        point: "c".into(),
        scope: None,
        occurrence: 0,
        action: Action::Error("c".into()),
    };
    let err = session.run(0, Some(&[bogus])).await.unwrap_err().to_string();
    assert!(err.contains("`fault c`") && err.contains("fault a"), "{err}");
    session.finish().await.unwrap();
}

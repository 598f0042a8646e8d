//! End-to-end tests of the core library: scenarios, executor, chaos points, injectors,
//! validators, journal and verdicts. One binary, a module per area.

mod support {
    use std::sync::{Arc, Mutex};

    use chaoskit::{Capabilities, InjectError, Injector, StartContext};

    /// Records start/stop calls into a shared log, optionally failing to start.
    pub struct Recorder {
        pub name: &'static str,
        pub log: Arc<Mutex<Vec<String>>>,
        pub fail_start: bool,
    }

    impl Injector for Recorder {
        fn capabilities(&self) -> Capabilities {
            Capabilities::NONE
        }
        fn start(&self, _ctx: &StartContext<'_>) -> Result<(), InjectError> {
            self.log.lock().unwrap().push(format!("start {}", self.name));
            if self.fail_start { Err(InjectError::Failed("refused".into())) } else { Ok(()) }
        }
        fn stop(&self) -> Result<(), InjectError> {
            self.log.lock().unwrap().push(format!("stop {}", self.name));
            Ok(())
        }
    }

    pub fn recorder(name: &'static str, log: &Arc<Mutex<Vec<String>>>, fail_start: bool) -> Recorder {
        Recorder { name, log: log.clone(), fail_start }
    }

    pub type Res = Result<(), chaoskit::BoxError>;
}

mod decisions {
    use std::time::Duration;

    use chaoskit::{Action, JournalConfig, Scenario, inject};

    use super::support::Res;

    async fn fired_errors(p: f64, points_per_iteration: u32, iterations: u64) -> u64 {
        let scenario = Scenario::builder("rate")
            .target(chaoskit::target("t", ()))
            .step("points", move |ctx, _| async move {
                for _ in 0..points_per_iteration {
                    let _ = ctx.maybe_error();
                }
                Ok::<_, chaoskit::ChaosError>(())
            })
            .inject("err", inject::error(p))
            .repeat(iterations)
            .seed(11)
            .build()
            .unwrap();
        let report = chaoskit::run(scenario).await.unwrap();
        assert_eq!(report.iterations.total, iterations);
        report.injectors[0].injections.get("error").copied().unwrap_or(0)
    }

    #[tokio::test]
    async fn probability_zero_never_fires_over_ten_thousand_points() {
        assert_eq!(fired_errors(0.0, 100, 100).await, 0);
    }

    #[tokio::test]
    async fn probability_point_three_fires_between_29_and_31_percent_over_100k_points() {
        let fired = fired_errors(0.3, 100, 1_000).await;
        let rate = fired as f64 / 100_000.0;
        assert!((0.29..=0.31).contains(&rate), "rate {rate}");
    }

    #[tokio::test]
    async fn probability_one_always_fires() {
        assert_eq!(fired_errors(1.0, 10, 10).await, 100);
    }

    #[tokio::test]
    async fn delays_fall_in_the_half_open_range_and_are_really_slept() {
        let (min, max) = (Duration::from_millis(2), Duration::from_millis(5));
        let scenario = Scenario::builder("delays")
            .target(chaoskit::target("t", ()))
            .step("sleepy", |ctx, _| async move {
                let started = std::time::Instant::now();
                let applied = ctx.maybe_delay().await;
                assert!(started.elapsed() >= applied);
                Ok::<_, chaoskit::BoxError>(())
            })
            .inject("d", inject::delay(1.0, min, max))
            .journal(JournalConfig::keep_all())
            .repeat(200)
            .seed(5)
            .build()
            .unwrap();
        let report = chaoskit::run(scenario).await.unwrap();
        assert_eq!(report.samples.len(), 200);
        for record in &report.samples {
            assert_eq!(record.decisions.len(), 1);
            let Action::Delay(d) = record.decisions[0].action else { panic!("not a delay") };
            assert!(d >= min && d < max, "{d:?}");
            assert!(record.duration_us >= d.as_micros() as u64);
        }
    }

    fn journal_scenario(seed: u64, concurrency: usize, extra_injector: bool) -> Scenario<chaoskit::NamedTarget<()>> {
        let mut b = Scenario::builder("replay")
            .target(chaoskit::target("t", ()))
            .step("work", |ctx, _| async move {
                ctx.maybe_delay().await;
                let _ = ctx.maybe_error();
                let _ = ctx.failpoint("db.write").await;
                tokio::task::yield_now().await;
                Ok::<_, chaoskit::BoxError>(())
            })
            .inject("delay", inject::delay(0.3, Duration::from_micros(1), Duration::from_micros(80)))
            .inject("error", inject::error(0.2).message("boom"));
        if extra_injector {
            b = b.inject("extra", inject::delay(0.9, Duration::from_micros(1), Duration::from_micros(2)));
        }
        b.inject("fp", inject::failpoint("db.write", 0.25, chaoskit::Action::Error("disk full".into())))
            .journal(JournalConfig::keep_all())
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::relaxed().min_success_rate(0.0))
            .concurrency(concurrency)
            .repeat(300)
            .seed(seed)
            .build()
            .unwrap()
    }

    fn decisions_json(report: &chaoskit::Report, skip: Option<&str>) -> String {
        let mut all: Vec<_> = report.failures.iter().chain(&report.samples).collect();
        all.sort_by_key(|r| r.index);
        let lines: Vec<String> = all
            .iter()
            .map(|r| {
                let kept: Vec<_> = r.decisions.iter().filter(|d| Some(d.injector.as_str()) != skip).collect();
                format!("{} {}", r.index, serde_json::to_string(&kept).unwrap())
            })
            .collect();
        lines.join("\n")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn same_seed_gives_byte_identical_decision_journals_sequential_and_concurrent() -> Res {
        let a = chaoskit::run(journal_scenario(99, 1, false)).await?;
        let b = chaoskit::run(journal_scenario(99, 1, false)).await?;
        let c = chaoskit::run(journal_scenario(99, 4, false)).await?;
        let other = chaoskit::run(journal_scenario(100, 1, false)).await?;
        assert_eq!(a.iterations.total, 300);
        assert!(a.injectors.iter().all(|i| !i.injections.is_empty()), "every injector fired");
        let ja = decisions_json(&a, None);
        assert_eq!(ja, decisions_json(&b, None));
        assert_eq!(ja, decisions_json(&c, None));
        assert_ne!(ja, decisions_json(&other, None));
        Ok(())
    }

    #[tokio::test]
    async fn adding_an_injector_does_not_change_the_draws_of_another() -> Res {
        let without = chaoskit::run(journal_scenario(7, 1, false)).await?;
        let with = chaoskit::run(journal_scenario(7, 1, true)).await?;
        // Delays of the extra injector add to the iteration, but the other injectors'
        // decisions are identical.
        assert_eq!(decisions_json(&without, None), decisions_json(&with, Some("extra")));
        assert!(with.injectors.iter().any(|i| i.label == "extra" && !i.injections.is_empty()));
        Ok(())
    }

    #[tokio::test]
    async fn several_injectors_of_one_kind_are_all_asked_and_delays_add_up() -> Res {
        let ms = Duration::from_millis;
        let scenario = Scenario::builder("sum")
            .target(chaoskit::target("t", ()))
            .step("s", |ctx, _| async move {
                let applied = ctx.maybe_delay().await;
                assert_eq!(applied, Duration::from_millis(3));
                Ok::<_, chaoskit::BoxError>(())
            })
            .inject("one", inject::delay(1.0, ms(1), ms(1)))
            .inject("two", inject::delay(1.0, ms(2), ms(2)))
            .journal(JournalConfig::keep_all())
            .repeat(3)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert!(report.is_success(), "{}", report.to_text());
        assert_eq!(report.samples[0].decisions.len(), 2);
        Ok(())
    }

    #[tokio::test]
    async fn first_firing_error_injector_decides_the_message() -> Res {
        let scenario = Scenario::builder("first")
            .target(chaoskit::target("t", ()))
            .step("s", |ctx, _| async move {
                let e = ctx.maybe_error().unwrap_err();
                assert_eq!(e.message, "first");
                Ok::<_, chaoskit::BoxError>(())
            })
            .inject("a", inject::error(1.0).message("first"))
            .inject("b", inject::error(1.0).message("second"))
            .journal(JournalConfig::keep_all())
            .repeat(2)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert!(report.is_success(), "{}", report.to_text());
        assert_eq!(report.samples[0].decisions.len(), 2, "both fired and both are journaled");
        assert_eq!(report.events.errors, 2, "an injected error is recorded once per iteration");
        Ok(())
    }

    #[tokio::test]
    async fn scoped_injectors_apply_only_to_points_of_their_scope() -> Res {
        let scenario = Scenario::builder("scopes")
            .target(chaoskit::target("t", ()))
            .step("outside", |ctx, _| async move {
                ctx.maybe_error()?;
                ctx.in_scope("other").maybe_error()?;
                Ok::<_, chaoskit::BoxError>(())
            })
            .scope("db", |s| {
                s.inject("db-errors", inject::error(1.0).message("db down")).step("query", |ctx, _| async move {
                    assert_eq!(ctx.scope_name(), Some("db"));
                    ctx.maybe_error()?;
                    Ok::<_, chaoskit::BoxError>(())
                })
            })
            .step("explicit", |ctx, _| async move {
                ctx.in_scope("db").maybe_error()?;
                Ok::<_, chaoskit::BoxError>(())
            })
            .continue_on_failure()
            .journal(JournalConfig::keep_all())
            .repeat(2)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.iterations.failed, 2);
        let f = &report.failures[0];
        assert_eq!(f.steps_executed, 1, "the unscoped step passed");
        assert!(f.error.as_deref().unwrap().contains("step `query` failed: chaos: db down"), "{:?}", f.error);
        assert_eq!(f.decisions[0].scope.as_deref(), Some("db"));
        assert_eq!(report.injectors[0].scope.as_deref(), Some("db"));
        Ok(())
    }

    #[tokio::test]
    async fn interval_mode_delays_once_per_interval_and_never_blocks_otherwise() -> Res {
        let scenario = Scenario::builder("interval")
            .target(chaoskit::target("t", ()))
            .step("s", |ctx, _| async move {
                let started = std::time::Instant::now();
                let applied = ctx.maybe_delay().await;
                if applied.is_zero() {
                    assert!(started.elapsed() < Duration::from_millis(5), "blocked with nothing pending");
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok::<_, chaoskit::BoxError>(())
            })
            .inject(
                "tick",
                inject::delay_every(Duration::from_millis(20), Duration::from_millis(1), Duration::from_millis(2)),
            )
            .run_for(Duration::from_millis(300))
            .build()?;
        let report = chaoskit::run(scenario).await?;
        let delays = report.injectors[0].injections.get("delay").copied().unwrap_or(0);
        assert!((5..=16).contains(&delays), "{delays} delays in 300 ms at one per 20 ms");
        assert!(report.iterations.total > delays * 2);
        Ok(())
    }

    #[tokio::test]
    async fn cancel_injector_cancels_the_operation_token() -> Res {
        let scenario = Scenario::builder("cancel")
            .target(chaoskit::target("t", ()))
            .step("s", |ctx, _| async move {
                let token = ctx.maybe_cancel();
                tokio::select! {
                    () = token.cancelled() => Err("operation cancelled".into()),
                    () = tokio::time::sleep(Duration::from_secs(5)) => Ok::<_, chaoskit::BoxError>(()),
                }
            })
            .inject("c", inject::cancel(1.0))
            .continue_on_failure()
            .repeat(3)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.iterations.failed, 3);
        assert_eq!(report.injectors[0].injections["cancel"], 3);
        Ok(())
    }

    #[tokio::test]
    async fn network_rules_match_hosts_and_return_what_was_applied() -> Res {
        let scenario = Scenario::builder("net")
            .target(chaoskit::target("t", ()))
            .step("s", |ctx, _| async move {
                let api = ctx.maybe_network("api.example.com", 443).await;
                assert_eq!(api.latency, Duration::from_millis(3));
                assert!(api.drop);
                let db = ctx.maybe_network("db.internal", 5432).await;
                assert!(db.is_none());
                Ok::<_, chaoskit::BoxError>(())
            })
            .inject(
                "net",
                inject::network().rule(inject::NetworkRule::new("api.*").latency(Duration::from_millis(3)).drop(1.0)),
            )
            .journal(JournalConfig::keep_all())
            .repeat(2)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert!(report.is_success(), "{}", report.to_text());
        assert_eq!(report.samples[0].decisions[0].point, "api.example.com:443");
        Ok(())
    }
}

mod lifecycle {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use chaoskit::{BoxError, RunError, Scenario, Target, report::StopReason};

    use super::support::{Res, recorder};

    #[tokio::test]
    async fn injectors_stop_in_reverse_order_of_start() -> Res {
        let log = Arc::new(Mutex::new(Vec::new()));
        let scenario = Scenario::builder("order")
            .target(chaoskit::target("t", ()))
            .step("s", |_, _| async { Ok::<_, BoxError>(()) })
            .inject("a", recorder("a", &log, false))
            .inject("b", recorder("b", &log, false))
            .inject("c", recorder("c", &log, false))
            .build()?;
        chaoskit::run(scenario).await?;
        assert_eq!(*log.lock().unwrap(), ["start a", "start b", "start c", "stop c", "stop b", "stop a"]);
        Ok(())
    }

    struct Tracked {
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Target for Tracked {
        fn name(&self) -> &str {
            "tracked"
        }
        async fn setup(&self) -> Result<(), BoxError> {
            self.log.lock().unwrap().push("setup".into());
            Ok(())
        }
        async fn teardown(&self) -> Result<(), BoxError> {
            self.log.lock().unwrap().push("teardown".into());
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failing_injector_start_stops_the_started_ones_and_tears_down() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let scenario = Scenario::builder("bad start")
            .target(Tracked { log: log.clone() })
            .step("s", |_, _| async { Ok::<_, BoxError>(()) })
            .inject("a", recorder("a", &log, false))
            .inject("b", recorder("b", &log, false))
            .inject("c", recorder("c", &log, true))
            .inject("d", recorder("d", &log, false))
            .build()
            .unwrap();
        let err = chaoskit::run(scenario).await.unwrap_err();
        assert!(matches!(err, RunError::InjectorStart { ref label, .. } if label == "c"));
        assert_eq!(err.to_string(), "injector `c` failed to start: refused");
        assert_eq!(*log.lock().unwrap(), ["setup", "start a", "start b", "start c", "stop b", "stop a", "teardown"]);
    }

    #[tokio::test]
    async fn failing_and_panicking_iterations_still_stop_everything_in_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let scenario = Scenario::builder("fail")
            .target(Tracked { log: log.clone() })
            .step("s", |ctx, _| async move {
                if ctx.iteration() == 1 {
                    panic!("bug in step");
                }
                Ok::<_, BoxError>(())
            })
            .inject("a", recorder("a", &log, false))
            .inject("b", recorder("b", &log, false))
            .repeat(10)
            .build()
            .unwrap();
        let report = chaoskit::run(scenario).await.unwrap();
        assert_eq!(report.stop_reason, StopReason::FailFast);
        assert_eq!(report.iterations.total, 2);
        assert_eq!(report.verdict(), chaoskit::Verdict::Fail);
        assert_eq!(*log.lock().unwrap(), ["setup", "start a", "start b", "stop b", "stop a", "teardown"]);
    }

    #[tokio::test]
    async fn a_panicking_step_fails_its_iteration_and_the_next_runs_normally() -> Res {
        let scenario = Scenario::builder("panics")
            .target(chaoskit::target("t", ()))
            .step("maybe panic", |ctx, _| async move {
                if ctx.iteration() % 3 == 0 {
                    panic!("iteration {} exploded", ctx.iteration());
                }
                Ok::<_, BoxError>(())
            })
            .step("after", |_, _| async { Ok::<_, BoxError>(()) })
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::default().min_success_rate(0.5))
            .repeat(9)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.iterations.total, 9);
        assert_eq!(report.iterations.failed, 3);
        assert_eq!(report.events.panics, 3);
        let f = &report.failures[1];
        assert_eq!(f.index, 3);
        assert_eq!(f.error.as_deref(), Some("step `maybe panic` panicked: iteration 3 exploded"));
        assert_eq!(f.steps_executed, 0);
        assert!(matches!(&f.events[0], chaoskit::Event::Panic(m) if m == "iteration 3 exploded"));
        assert_eq!(report.samples.iter().find(|r| r.index == 1).unwrap().steps_executed, 2);
        Ok(())
    }

    #[tokio::test]
    async fn continue_on_failure_with_two_failures_in_a_thousand_passes_and_lists_them() -> Res {
        let scenario = Scenario::builder("tolerant")
            .target(chaoskit::target("t", ()))
            .step("s", |ctx, _| async move {
                if ctx.iteration() == 10 || ctx.iteration() == 500 {
                    return Err::<(), BoxError>("transient".into());
                }
                Ok(())
            })
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::default().min_success_rate(0.95))
            .repeat(1_000)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.verdict(), chaoskit::Verdict::Pass, "{}", report.to_text());
        assert_eq!(report.failures.iter().map(|f| f.index).collect::<Vec<_>>(), [10, 500]);
        assert!(report.reasons.iter().any(|r| r == "2 of 1000 iterations failed, within the thresholds"));
        let text = report.to_text();
        assert!(text.contains("2 × step `s`: transient") && text.contains("first iteration 10, last 500"), "{text}");
        Ok(())
    }

    #[tokio::test]
    async fn below_the_minimum_success_rate_fails() -> Res {
        let scenario = Scenario::builder("too many")
            .target(chaoskit::target("t", ()))
            .step("s", |ctx, _| async move {
                if ctx.iteration() % 10 == 0 { Err::<(), BoxError>("bad".into()) } else { Ok(()) }
            })
            .continue_on_failure()
            .repeat(100)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.verdict(), chaoskit::Verdict::Fail);
        assert_eq!(report.reasons[0], "success rate 90.00% is below the minimum 95.00%");
        Ok(())
    }

    #[tokio::test]
    async fn run_for_overrides_repeat_and_reaching_the_deadline_is_not_an_error() -> Res {
        let scenario = Scenario::builder("timed")
            .target(chaoskit::target("t", ()))
            .step("s", |_, _| async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                Ok::<_, BoxError>(())
            })
            .repeat(3)
            .run_for(Duration::from_millis(200))
            .build()?;
        let started = Instant::now();
        let report = chaoskit::run(scenario).await?;
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(report.iterations.total > 3, "{}", report.iterations.total);
        assert_eq!(report.stop_reason, StopReason::Deadline);
        assert_eq!(report.verdict(), chaoskit::Verdict::Pass);
        assert_eq!(report.iterations.failed, 0, "the last iteration is not cut by the deadline");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrency_keeps_up_to_n_iterations_in_flight() -> Res {
        let in_flight = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        let (f, p) = (in_flight.clone(), peak.clone());
        let scenario = Scenario::builder("parallel")
            .target(chaoskit::target("t", ()))
            .step("s", move |_, _| {
                let (f, p) = (f.clone(), p.clone());
                async move {
                    let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    f.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, BoxError>(())
                }
            })
            .concurrency(4)
            .repeat(40)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.iterations.total, 40);
        assert_eq!(peak.load(Ordering::SeqCst), 4);
        Ok(())
    }

    #[tokio::test]
    async fn cancellation_stops_new_iterations_stops_injectors_and_reports_interrupted() -> Res {
        let log = Arc::new(Mutex::new(Vec::new()));
        let token = chaoskit::CancellationToken::new();
        let scenario = Scenario::builder("ctrl-c")
            .target(Tracked { log: log.clone() })
            .step("s", |_, _| async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok::<_, BoxError>(())
            })
            .inject("a", recorder("a", &log, false))
            .repeat(1_000_000)
            .build()?;
        let cancel = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            cancel.cancel();
        });
        let report = chaoskit::Executor::new(scenario).cancel_on(token).run().await?;
        assert_eq!(report.stop_reason, StopReason::Interrupted);
        assert!(report.iterations.total > 0 && report.iterations.total < 1_000);
        assert_eq!(report.iterations.failed, 0, "in-flight iterations finished");
        assert_eq!(*log.lock().unwrap(), ["setup", "start a", "stop a", "teardown"]);
        Ok(())
    }

    #[tokio::test]
    async fn progress_is_reported_while_running() -> Res {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let scenario = Scenario::builder("progress")
            .target(chaoskit::target("t", ()))
            .step("s", |_, _| async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok::<_, BoxError>(())
            })
            .repeat(100)
            .build()?;
        chaoskit::Executor::new(scenario)
            .on_progress(Duration::from_millis(10), move |p| s2.lock().unwrap().push(p.done))
            .run()
            .await?;
        let seen = seen.lock().unwrap();
        assert!(seen.len() >= 3, "{seen:?}");
        assert_eq!(*seen.last().unwrap(), 100);
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
        Ok(())
    }

    #[tokio::test]
    async fn a_failing_setup_starts_nothing() {
        struct Broken;
        impl Target for Broken {
            fn name(&self) -> &str {
                "broken"
            }
            async fn setup(&self) -> Result<(), BoxError> {
                Err("port in use".into())
            }
        }
        let log = Arc::new(Mutex::new(Vec::new()));
        let scenario =
            Scenario::builder("setup").target(Broken).inject("a", recorder("a", &log, false)).build().unwrap();
        let err = chaoskit::run(scenario).await.unwrap_err();
        assert_eq!(err.to_string(), "setup of target `broken` failed: port in use");
        assert!(log.lock().unwrap().is_empty());
    }
}

mod builder {
    use std::time::Duration;

    use chaoskit::{BuildError, NamedTarget, Scenario, inject, validate};

    fn base() -> chaoskit::ScenarioBuilder<NamedTarget<()>> {
        Scenario::builder("s").target(chaoskit::target("t", ()))
    }

    fn err(b: chaoskit::ScenarioBuilder<NamedTarget<()>>) -> String {
        b.build().err().expect("build should fail").to_string()
    }

    #[test]
    fn build_rejects_bad_scenarios_with_clear_messages() {
        let no_target = Scenario::<NamedTarget<()>>::builder("lonely").build().err().unwrap();
        assert_eq!(no_target, BuildError::NoTarget { scenario: "lonely".into() });
        assert_eq!(no_target.to_string(), "scenario `lonely` has no target; call `.target(..)`");
        assert_eq!(
            err(base().repeat(0)),
            "scenario `s` would run no iteration: repeat is 0 and no run_for duration is set"
        );
        assert!(base().repeat(0).run_for(Duration::from_secs(1)).build().is_ok());
        assert_eq!(
            err(base().inject("x", inject::error(0.1)).inject("x", inject::panic(0.1))),
            "scenario `s` has two injectors labelled `x`; labels must be unique"
        );
        assert_eq!(
            err(base().assert("v", validate::recursion_depth(3)).assert("v", validate::max_panics(1))),
            "scenario `s` has two validators labelled `v`; labels must be unique"
        );
        assert_eq!(
            err(base().inject("p", inject::error(1.5))),
            "injector `p` in scenario `s`: probability 1.5 is outside [0, 1]"
        );
        assert_eq!(
            err(base().inject("n", inject::panic(-0.1))),
            "injector `n` in scenario `s`: probability -0.1 is outside [0, 1]"
        );
        assert_eq!(
            err(base().inject("d", inject::delay(0.5, Duration::from_millis(9), Duration::from_millis(3)))),
            "injector `d` in scenario `s`: delay range min 9ms is greater than max 3ms"
        );
        assert_eq!(err(base().concurrency(0)), "scenario `s`: concurrency must be at least 1");
        assert_eq!(
            err(base().thresholds(chaoskit::Thresholds::default().min_success_rate(2.0))),
            "scenario `s`: min_success_rate 2 is outside [0, 1]"
        );
        assert!(err(base().scope("a", |s| s).scope("a", |s| s)).contains("two scopes labelled `a`"));
    }
}

mod validators {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use chaoskit::{BoxError, Scenario, Severity, ValidatorExt, Verdict, inject, validate};

    use super::support::Res;

    fn recurse(ctx: &chaoskit::ChaosContext, depth: u32, max: u32) {
        ctx.record_recursion_depth(depth);
        if depth < max {
            recurse(ctx, depth + 1, max);
        }
    }

    #[tokio::test]
    async fn recursion_depth_limit_fails_only_the_deep_iterations_and_resets_each_time() -> Res {
        let scenario = Scenario::builder("recursion")
            .target(chaoskit::target("t", ()))
            .step("walk", |ctx, _| async move {
                let max = if ctx.iteration() == 2 { 40 } else { 10 };
                recurse(&ctx, 1, max);
                Ok::<_, BoxError>(())
            })
            .assert("depth", validate::recursion_depth(20))
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::relaxed())
            .repeat(5)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.iterations.failed, 1);
        assert_eq!(report.failures[0].index, 2);
        assert_eq!(
            report.failures[0].error.as_deref(),
            Some("validator `depth` failed: recursion depth 40 exceeds the limit of 20")
        );
        assert_eq!(report.validators[0].violations, 1);
        assert_eq!(report.events.max_recursion_depth, 40);
        Ok(())
    }

    #[tokio::test]
    async fn a_stuck_blocking_step_is_abandoned_within_its_timeout_and_the_run_goes_on() -> Res {
        let timeout = Duration::from_millis(200);
        let scenario = Scenario::builder("stall")
            .target(chaoskit::target("t", ()))
            .blocking_step("spin", |ctx, _| {
                if ctx.iteration() == 1 {
                    // A CPU-bound loop that only stops when the executor gives up on it.
                    while !ctx.is_cancelled() {
                        std::hint::spin_loop();
                    }
                }
                Ok::<_, BoxError>(())
            })
            .assert("no stall", validate::no_stall(timeout))
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::relaxed().min_success_rate(0.5))
            .repeat(4)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.iterations.total, 4);
        assert_eq!(report.iterations.failed, 1);
        let stuck = &report.failures[0];
        assert_eq!(stuck.index, 1);
        assert!(stuck.duration_us >= 200_000, "{}", stuck.duration_us);
        assert!(stuck.duration_us <= 450_000, "abandoned within timeout + 250 ms: {}", stuck.duration_us);
        assert_eq!(
            stuck.error.as_deref(),
            Some("iteration 1 ran past its 200ms step timeout in step `spin`; the step was abandoned")
        );
        assert_eq!(stuck.violations[0].message, "step `spin` ran past its 200ms timeout and was abandoned");
        Ok(())
    }

    #[tokio::test]
    async fn a_stuck_async_step_is_abandoned_too() -> Res {
        let scenario = Scenario::builder("stall async")
            .target(chaoskit::target("t", ()))
            .step("wait forever", |_, _| async {
                std::future::pending::<()>().await;
                Ok::<_, BoxError>(())
            })
            .step_timeout(Duration::from_millis(50))
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::relaxed().min_success_rate(0.0))
            .repeat(2)
            .build()?;
        let started = Instant::now();
        let report = chaoskit::run(scenario).await?;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(report.iterations.failed, 2);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn task_leaks_are_detected_against_the_baseline() -> Res {
        let scenario = Scenario::builder("tasks")
            .target(chaoskit::target("t", ()))
            .step("spawn", |ctx, _| async move {
                if ctx.iteration() == 2 {
                    tokio::spawn(async { tokio::time::sleep(Duration::from_secs(30)).await });
                }
                // A task that finishes quickly is not a leak.
                tokio::spawn(async {}).await?;
                Ok::<_, BoxError>(())
            })
            .assert("tasks", validate::no_task_leak(0))
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::relaxed())
            .repeat(5)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.failures.first().map(|f| f.index), Some(2), "{}", report.to_text());
        assert!(report.failures[0].error.as_deref().unwrap().contains("1 tokio tasks leaked"));
        Ok(())
    }

    #[tokio::test]
    async fn iteration_time_memory_and_state_validators_judge_each_iteration() -> Res {
        let counter = Arc::new(AtomicU64::new(0));
        let c = counter.clone();
        let c2 = counter.clone();
        let scenario = Scenario::builder("mixed")
            .target(chaoskit::target("t", ()))
            .step("s", move |ctx, _| {
                let c = c.clone();
                async move {
                    if ctx.iteration() == 3 {
                        tokio::time::sleep(Duration::from_millis(60)).await;
                    }
                    c.fetch_add(if ctx.iteration() == 5 { 2 } else { 1 }, Ordering::SeqCst);
                    Ok::<_, BoxError>(())
                }
            })
            .assert("time", validate::max_iteration_time(Duration::from_millis(40)))
            .assert("rss", validate::memory_limit(64 << 30))
            .assert(
                "state",
                validate::state(move || {
                    let n = c2.load(Ordering::SeqCst);
                    if n.is_multiple_of(7) { Err(format!("counter hit {n}")) } else { Ok(()) }
                }),
            )
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::relaxed().min_success_rate(0.0))
            .repeat(8)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        let failed: Vec<_> = report.failures.iter().map(|f| (f.index, f.error.clone().unwrap())).collect();
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert_eq!(failed[0].0, 3);
        assert!(failed[0].1.starts_with("validator `time` failed: iteration took"));
        assert_eq!(failed[1], (5, "validator `state` failed: counter hit 7".to_string()));
        assert_eq!(report.validators[1].violations, 0, "64 GiB is a generous RSS limit");
        Ok(())
    }

    #[tokio::test]
    async fn memory_limit_catches_a_process_over_its_budget() -> Res {
        let scenario = Scenario::builder("rss")
            .target(chaoskit::target("t", ()))
            .step("s", |_, _| async { Ok::<_, BoxError>(()) })
            .assert("rss", validate::memory_limit(1 << 20))
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::relaxed().min_success_rate(0.0))
            .repeat(1)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert!(report.failures[0].error.as_deref().unwrap().contains("exceeds the limit of 1.0 MiB"));
        Ok(())
    }

    #[tokio::test]
    async fn per_run_panic_budget_and_warning_severity_shape_the_verdict() -> Res {
        let build = |max_panics: u64, warning_limit: Duration| {
            Scenario::builder("budget")
                .target(chaoskit::target("t", ()))
                .step("s", |ctx, _| async move {
                    if ctx.iteration() % 2 == 0 {
                        ctx.record_panic("recovered");
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    Ok::<_, BoxError>(())
                })
                .assert("panics", validate::max_panics(max_panics))
                .assert("slow", validate::max_iteration_time(warning_limit).with_severity(Severity::Warning))
                .repeat(10)
                .build()
                .unwrap()
        };
        let pass = chaoskit::run(build(5, Duration::from_secs(5))).await?;
        assert_eq!(pass.verdict(), Verdict::Pass, "{}", pass.to_text());
        assert_eq!(pass.events.panics, 5);

        let fail = chaoskit::run(build(4, Duration::from_secs(5))).await?;
        assert_eq!(fail.verdict(), Verdict::Fail);
        assert_eq!(fail.validators[0].final_violation.as_deref(), Some("5 panics caught, at most 4 allowed"));
        assert_eq!(fail.iterations.failed, 0, "a per-run validator judges at the end");

        let unstable = chaoskit::run(build(5, Duration::from_micros(10))).await?;
        assert_eq!(unstable.verdict(), Verdict::Unstable);
        assert_eq!(unstable.iterations.failed, 0, "warnings do not fail iterations");
        assert_eq!(unstable.validators[1].violations, 10);
        Ok(())
    }

    #[tokio::test]
    async fn composite_validator_checks_every_child() -> Res {
        let scenario = Scenario::builder("all")
            .target(chaoskit::target("t", ()))
            .step("s", |ctx, _| async move {
                ctx.record_recursion_depth(9);
                Ok::<_, BoxError>(())
            })
            .assert(
                "group",
                validate::all([
                    Box::new(validate::recursion_depth(5)) as Box<dyn chaoskit::Validator>,
                    Box::new(validate::from_fn(|o| {
                        if o.max_recursion_depth > 8 { Err("too deep for me".into()) } else { Ok(()) }
                    })),
                ]),
            )
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::relaxed().min_success_rate(0.0))
            .repeat(1)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(
            report.failures[0].violations[0].message,
            "recursion depth 9 exceeds the limit of 5; too deep for me"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_panicking_validator_is_a_harness_error_not_a_crash() -> Res {
        let scenario = Scenario::builder("bad validator")
            .target(chaoskit::target("t", ()))
            .step("s", |_, _| async { Ok::<_, BoxError>(()) })
            .assert("oops", validate::from_fn(|_| panic!("validator bug")))
            .continue_on_failure()
            .repeat(2)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.validators[0].harness_errors, 2);
        assert_eq!(report.verdict(), Verdict::Fail);
        Ok(())
    }

    #[tokio::test]
    async fn error_injection_feeds_the_error_count() -> Res {
        let scenario = Scenario::builder("errors")
            .target(chaoskit::target("t", ()))
            .step("s", |ctx, _| async move {
                let _ = ctx.maybe_error();
                Ok::<_, BoxError>(())
            })
            .inject("e", inject::error(1.0))
            .assert(
                "at most 3",
                validate::from_fn(|o| if o.errors > 0 { Err(format!("{} errors", o.errors)) } else { Ok(()) }),
            )
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::relaxed().min_success_rate(0.0))
            .repeat(3)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.events.errors, 3);
        assert_eq!(report.validators[0].violations, 3);
        Ok(())
    }
}

mod composite {
    use std::time::Duration;

    use chaoskit::{Injector, inject};

    #[test]
    fn composite_keeps_each_childs_capability() {
        let c = inject::composite([
            Box::new(inject::delay(1.0, Duration::from_millis(1), Duration::from_millis(2))) as Box<dyn Injector>,
            Box::new(inject::panic(0.5)),
        ]);
        assert!(c.capabilities().answers(chaoskit::PointKind::Delay));
        assert!(c.capabilities().answers(chaoskit::PointKind::Panic));
        assert!(!c.capabilities().answers(chaoskit::PointKind::Error));
    }
}

mod context {
    use std::time::Duration;

    use chaoskit::{BoxError, JournalConfig, Scenario, inject, points};

    use super::support::Res;

    mod deep {
        /// Code that knows nothing about scenarios: it reaches the current context.
        pub async fn repository_call() -> Result<(), chaoskit::ChaosError> {
            chaoskit::points::maybe_delay().await;
            chaoskit::points::record_recursion_depth(3);
            chaoskit::points::maybe_error()
        }
    }

    #[tokio::test]
    async fn code_deep_in_the_stack_reaches_the_current_context() -> Res {
        let scenario = Scenario::builder("deep")
            .target(chaoskit::target("t", ()))
            .step("handler", |_, _| async { deep::repository_call().await.map_err(BoxError::from) })
            .blocking_step("blocking", |_, _| {
                assert!(points::current().is_some(), "blocking steps see the context too");
                points::maybe_error()
            })
            .inject("e", inject::error(1.0).message("repo down"))
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::relaxed().min_success_rate(0.0))
            .journal(JournalConfig::keep_all())
            .repeat(2)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.iterations.failed, 2);
        assert_eq!(report.failures[0].error.as_deref(), Some("step `handler` failed: chaos: repo down"));
        assert_eq!(report.events.max_recursion_depth, 3);
        Ok(())
    }

    #[tokio::test]
    async fn outside_a_run_chaos_points_are_no_ops() {
        assert!(points::current().is_none());
        assert_eq!(points::maybe_delay().await, Duration::ZERO);
        points::maybe_panic();
        assert!(points::maybe_error().is_ok());
        assert!(points::failpoint("x").await.is_ok());
        assert!(points::maybe_network("h", 1).await.is_none());
    }

    #[tokio::test]
    async fn an_injected_panic_carries_its_message() -> Res {
        let scenario = Scenario::builder("panic")
            .target(chaoskit::target("t", ()))
            .step("s", |ctx, _| async move {
                ctx.maybe_panic();
                Ok::<_, BoxError>(())
            })
            .inject("p", inject::panic(1.0).message("kaboom"))
            .continue_on_failure()
            .thresholds(chaoskit::Thresholds::relaxed().min_success_rate(0.0))
            .repeat(2)
            .build()?;
        let report = chaoskit::run(scenario).await?;
        assert_eq!(report.failures[0].error.as_deref(), Some("step `s` panicked: kaboom"));
        assert_eq!(report.injectors[0].injections["panic"], 2);
        Ok(())
    }
}

mod reports {
    use chaoskit::{BoxError, JournalConfig, Report, Scenario, inject, validate};

    use super::support::Res;

    async fn sample() -> Report {
        let scenario = Scenario::builder("reporting")
            .target(chaoskit::target("svc", ()))
            .step("s", |ctx, _| async move {
                ctx.maybe_error()?;
                Ok::<_, BoxError>(())
            })
            .inject("flaky", inject::error(0.5).message("503 <upstream> & co"))
            .assert("depth", validate::recursion_depth(10))
            .continue_on_failure()
            .journal(JournalConfig { max_failing: 5, ..JournalConfig::default() })
            .repeat(100)
            .seed(3)
            .build()
            .unwrap();
        chaoskit::run(scenario).await.unwrap()
    }

    #[tokio::test]
    async fn json_journal_round_trips_and_is_versioned() -> Res {
        let report = sample().await;
        let json = report.to_json();
        let value: serde_json::Value = serde_json::from_str(&json)?;
        assert_eq!(value["schema"], "chaoskit.report/v2");
        assert_eq!(value["verdict"], "FAIL");
        assert_eq!(value["seed"], 3);
        assert_eq!(Report::from_json(&json)?, report);
        // v1 journals (no INTERRUPTED verdict yet) still read.
        let v1 = json.replace("chaoskit.report/v2", "chaoskit.report/v1");
        assert_eq!(Report::from_json(&v1)?.verdict, report.verdict);
        let wrong = json.replace("chaoskit.report/v2", "chaoskit.report/v0");
        assert_eq!(
            Report::from_json(&wrong).unwrap_err().to_string(),
            "journal schema `chaoskit.report/v0` is not supported (expected `chaoskit.report/v2`)"
        );
        Ok(())
    }

    #[tokio::test]
    async fn the_journal_keeps_a_bounded_number_of_failures_and_counts_the_rest() {
        let report = sample().await;
        assert_eq!(report.failures.len(), 5);
        assert_eq!(report.failures_omitted, report.iterations.failed - 5);
        assert!(report.failures.windows(2).all(|w| w[0].index < w[1].index));
        assert!(!report.samples.is_empty(), "the first passing iterations are sampled");
        assert!(report.samples.iter().all(|r| r.ok && r.index < 10), "only the first ten, then 1 in 10,000");
    }

    #[tokio::test]
    async fn junit_has_a_verdict_case_and_one_case_per_validator() {
        let report = sample().await;
        let xml = report.to_junit();
        assert!(xml.starts_with("<?xml"));
        // The verdict, the validator, and the coverage of the one injector.
        assert!(xml.contains("<testsuite name=\"reporting\" tests=\"3\""), "{xml}");
        assert!(xml.contains("<testcase name=\"coverage flaky\""), "{xml}");
        assert!(xml.contains("<testcase name=\"verdict\""));
        assert!(xml.contains("<failure message=\"verdict FAIL: success rate"));
        assert!(xml.contains("<testcase name=\"validator depth\""));
        assert!(xml.contains("<property name=\"seed\" value=\"3\"/>"));
    }

    #[tokio::test]
    async fn latency_percentiles_come_from_real_iteration_times() -> Res {
        let scenario = Scenario::builder("latency")
            .target(chaoskit::target("t", ()))
            .step("sleep", |ctx, _| async move {
                let ms = if ctx.iteration() % 10 == 9 { 20 } else { 2 };
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                Ok::<_, BoxError>(())
            })
            .repeat(50)
            .build()?;
        let l = chaoskit::run(scenario).await?.latency_us;
        assert!(l.p50 >= 2_000.0 && l.p50 < 20_000.0, "{l:?}");
        assert!(l.max >= 20_000.0 && l.p99 >= 20_000.0, "{l:?}");
        assert!(l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.max);
        Ok(())
    }

    #[tokio::test]
    async fn text_summary_has_counts_latency_injectors_validators_and_the_verdict() {
        let text = sample().await.to_text();
        for needle in
            ["scenario `reporting`", "seed 3", "Latency     min", "p99", "flaky", "error", "depth", "VERDICT: FAIL"]
        {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }
}

mod sharding {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use chaoskit::{Executor, JournalConfig, Scenario, Shard, inject, validate};

    use super::support::Res;

    fn scenario(journal: JournalConfig, concurrency: usize) -> Scenario<chaoskit::NamedTarget<()>> {
        Scenario::builder("sharded")
            .target(chaoskit::target("t", ()))
            .step("work", |ctx, _| async move {
                ctx.maybe_delay().await;
                ctx.maybe_error()?;
                let _ = ctx.failpoint("db.write").await;
                Ok::<_, chaoskit::BoxError>(())
            })
            .inject("delay", inject::delay(0.3, Duration::from_micros(1), Duration::from_micros(50)))
            .inject("error", inject::error(0.1).message("boom"))
            .inject("fp", inject::failpoint("db.write", 0.25, chaoskit::Action::Error("disk full".into())))
            .assert("depth", validate::recursion_depth(10))
            .journal(journal)
            .continue_on_failure()
            .concurrency(concurrency)
            .repeat(203)
            .seed(41)
            .build()
            .unwrap()
    }

    fn by_index(reports: &[&chaoskit::Report]) -> BTreeMap<u64, String> {
        let mut all = BTreeMap::new();
        for r in reports {
            for rec in r.failures.iter().chain(&r.samples) {
                let line = format!("{} {}", rec.ok, serde_json::to_string(&rec.decisions).unwrap());
                assert!(all.insert(rec.index, line).is_none(), "iteration {} kept twice", rec.index);
            }
        }
        all
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn four_shards_run_exactly_the_single_runs_iterations_with_its_decisions() -> Res {
        let single = chaoskit::run(scenario(JournalConfig::keep_all(), 2)).await?;
        let mut shards = Vec::new();
        for i in 0..4 {
            let shard = Shard::new(i, 4).unwrap();
            let report = Executor::new(scenario(JournalConfig::keep_all(), 2)).shard(shard).run().await?;
            assert_eq!(report.shard, Some(shard));
            assert_eq!(report.iterations.total, shard.iterations_of(203));
            assert!(report.failures.iter().chain(&report.samples).all(|r| shard.owns(r.index)));
            shards.push(report);
        }
        assert_eq!(single.shard, None);
        let merged = by_index(&shards.iter().collect::<Vec<_>>());
        assert_eq!(merged.len(), 203);
        assert_eq!(merged, by_index(&[&single]));
        assert!(single.iterations.failed > 0, "the scenario has failures to compare");
        assert_eq!(shards.iter().map(|r| r.iterations.failed).sum::<u64>(), single.iterations.failed);
        Ok(())
    }

    #[tokio::test]
    async fn a_shard_without_a_seed_is_refused() {
        let built = Scenario::builder("unseeded")
            .target(chaoskit::target("t", ()))
            .step("s", |_, _| async { Ok::<_, chaoskit::BoxError>(()) })
            .shard(Shard::new(1, 2).unwrap())
            .build();
        assert_eq!(
            built.err().unwrap().to_string(),
            "scenario `unseeded`: a sharded run needs a fixed seed, so that every shard makes the \
             decisions of the same run"
        );
        let unseeded = Scenario::builder("unseeded")
            .target(chaoskit::target("t", ()))
            .step("s", |_, _| async { Ok::<_, chaoskit::BoxError>(()) })
            .build()
            .unwrap();
        let err = Executor::new(unseeded).shard(Shard::new(1, 2).unwrap()).run().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "shard 1/2 of scenario `unseeded` needs a fixed seed, so that every shard makes the decisions of the same run"
        );
    }

    #[tokio::test]
    async fn a_sharded_duration_run_keeps_to_its_indices() -> Res {
        let s = Scenario::builder("timed")
            .target(chaoskit::target("t", ()))
            .step("s", |_, _| async { Ok::<_, chaoskit::BoxError>(()) })
            .journal(JournalConfig::keep_all())
            .run_for(Duration::from_millis(30))
            .seed(1)
            .shard(Shard::new(2, 3).unwrap())
            .build()?;
        let report = chaoskit::run(s).await?;
        assert!(report.iterations.total > 0);
        let indices: Vec<u64> = report.samples.iter().map(|r| r.index).collect();
        let expected: Vec<u64> = (0..report.iterations.total).map(|p| 3 * p + 2).collect();
        assert_eq!(indices, expected);
        Ok(())
    }

    fn caps() -> JournalConfig {
        JournalConfig { max_failing: 7, first_passing: 5, passing_every: 10, max_passing: 9 }
    }

    async fn shard_journals(journal: JournalConfig, count: u32) -> Vec<(String, chaoskit::Report)> {
        let mut out = Vec::new();
        for i in 0..count {
            let report = Executor::new(scenario(journal, 1)).shard(Shard::new(i, count).unwrap()).run().await.unwrap();
            // Through the file format, as `report merge` reads them.
            out.push((format!("shard-{i}.json"), chaoskit::Report::from_json(&report.to_json()).unwrap()));
        }
        out
    }

    #[tokio::test]
    async fn merged_shards_make_the_single_runs_report_with_caps_applied_after_the_merge() -> Res {
        let single = chaoskit::run(scenario(caps(), 1)).await?;
        let merged = chaoskit::report::merge(shard_journals(caps(), 4).await)?;
        assert_eq!(merged.shard, None);
        assert_eq!(merged.merged.as_ref().map(|m| m.shards), Some(4));
        assert_eq!(merged.iterations, single.iterations);
        assert_eq!(merged.success_rate, single.success_rate);
        assert_eq!(merged.events, single.events);
        assert_eq!(merged.injectors, single.injectors);
        let strip = |r: &chaoskit::Report| -> Vec<_> {
            r.validators
                .iter()
                .map(|v| (v.violations, v.first_violation_iteration, v.final_violation.clone()))
                .collect()
        };
        assert_eq!(strip(&merged), strip(&single));
        assert_eq!((merged.verdict, &merged.reasons), (single.verdict, &single.reasons));
        let decisions = |rs: &[chaoskit::journal::IterationRecord]| -> Vec<_> {
            rs.iter().map(|r| (r.index, r.ok, r.error.clone(), r.decisions.clone())).collect()
        };
        assert_eq!(merged.failures.len(), 7);
        assert_eq!(decisions(&merged.failures), decisions(&single.failures));
        assert_eq!(decisions(&merged.samples), decisions(&single.samples));
        assert_eq!(merged.failures_omitted, single.failures_omitted);
        assert_eq!(merged.timeline.iter().map(|b| b.iterations).sum::<u64>(), 203);
        assert_eq!(merged.timeline.iter().map(|b| b.failed).sum::<u64>(), single.iterations.failed);
        assert!(merged.latency_us.max >= merged.latency_us.p50 && merged.latency_us.p50 > 0.0);
        // The merged journal reads back and merges no further: it is not a shard.
        let back = chaoskit::Report::from_json(&merged.to_json())?;
        assert_eq!(back, merged);
        let err = chaoskit::report::merge(vec![("merged.json".into(), back)]).unwrap_err();
        assert_eq!(err.to_string(), "`merged.json` is not a shard journal (it was not run with --shard I/N)");
        Ok(())
    }

    #[tokio::test]
    async fn journals_that_are_not_one_runs_shards_are_refused_with_the_reason() -> Res {
        let journals = shard_journals(caps(), 3).await;
        let merge = |js: Vec<(String, chaoskit::Report)>| chaoskit::report::merge(js).unwrap_err().to_string();
        assert_eq!(merge(journals[..1].to_vec()), "shards 1, 2 of 3 missing: a merged report must cover every shard");
        assert_eq!(
            merge(vec![journals[0].clone(), journals[1].clone()]),
            "shard 2 of 3 missing: a merged report must cover every shard"
        );
        let mut dup = journals.clone();
        dup.push(("again.json".into(), journals[1].1.clone()));
        assert_eq!(merge(dup), "shard 1/3 is given twice: `shard-1.json` and `again.json`");
        let mut reseeded = journals.clone();
        reseeded[2].1.seed = 5;
        assert_eq!(
            merge(reseeded),
            "`shard-2.json` is not a shard of the same run: its seed is 5, but `shard-0.json` has 41"
        );
        let mut renamed = journals.clone();
        renamed[1].1.scenario = "other".into();
        assert!(merge(renamed).contains("its scenario is \"other\""));
        let mut recounted = journals.clone();
        recounted[1].1.shard = Some(Shard::new(1, 4).unwrap());
        assert!(merge(recounted).contains("its shard count is 4"));
        let mut broken = journals.clone();
        broken[1].1.latency_histogram = Some("AAAA".into());
        assert!(
            merge(broken).starts_with(
                "`shard-1.json` cannot be merged: `latency_histogram`: 3 bytes, shorter than a V2 histogram's 40-byte header"
            )
        );
        assert_eq!(chaoskit::report::merge(Vec::new()).unwrap_err().to_string(), "no shard journal to merge");
        Ok(())
    }

    #[tokio::test]
    async fn a_panic_budget_is_judged_again_on_the_merged_count() -> Res {
        let build = || {
            Scenario::builder("panics")
                .target(chaoskit::target("t", ()))
                .step("s", |ctx, _| async move {
                    ctx.maybe_panic();
                    Ok::<_, chaoskit::BoxError>(())
                })
                .inject("boom", inject::panic(0.5))
                .assert("budget", validate::max_panics(6))
                .continue_on_failure()
                .thresholds(chaoskit::Thresholds::relaxed().min_success_rate(0.0))
                .repeat(20)
                .seed(9)
        };
        let single = chaoskit::run(build().build()?).await?;
        let mut journals = Vec::new();
        for i in 0..2 {
            let r = chaoskit::run(build().shard(Shard::new(i, 2).unwrap()).build()?).await?;
            // Each half is within the budget on its own; the whole run is not.
            assert!(r.events.panics <= 6 && r.validators[0].final_violation.is_none(), "{:?}", r.events);
            journals.push((format!("{i}"), r));
        }
        let merged = chaoskit::report::merge(journals)?;
        assert!(single.events.panics > 6);
        assert_eq!(merged.events.panics, single.events.panics);
        assert_eq!(merged.validators[0].final_violation, single.validators[0].final_violation);
        assert_eq!(merged.verdict, single.verdict);
        assert_eq!(merged.verdict, chaoskit::Verdict::Fail);
        Ok(())
    }
}

//! Tests that measure the whole process (OS threads, CPU time, resident memory). They run in
//! their own binary without the libtest harness, one after another on the main thread, so no
//! other test (nor the harness's own threads) can disturb the counts.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chaoskit::{BoxError, Injector, Scenario, StartContext, inject, validate};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn thread_cpu_seconds() -> f64 {
    // utime + stime of the whole process, in clock ticks (100 Hz on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn cpu_injector_really_burns_cpu_while_active_and_stops() {
    let cpu = inject::cpu(1, 1.0);
    let ctx = StartContext { label: "cpu", seed: 1, index: 0 };
    let before = thread_cpu_seconds();
    let wall = Instant::now();
    cpu.start(&ctx).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    cpu.stop().unwrap();
    let burned = thread_cpu_seconds() - before;
    // Generous for a loaded machine: a burner at full duty gets at least a fraction of a core.
    assert!(burned >= 0.1, "burned {burned}s of CPU in {:?}", wall.elapsed());
    let after_stop = thread_cpu_seconds();
    std::thread::sleep(Duration::from_millis(200));
    assert!(thread_cpu_seconds() - after_stop < 0.1, "still burning after stop");
}

fn memory_injector_holds_resident_memory_until_stop() {
    let mem = inject::memory(64 << 20);
    let before = validate::process_rss_bytes().unwrap();
    mem.start(&StartContext { label: "mem", seed: 1, index: 0 }).unwrap();
    assert!(mem.is_holding());
    let during = validate::process_rss_bytes().unwrap();
    assert!(during >= before + (60 << 20), "rss {before} -> {during}");
    mem.stop().unwrap();
    assert!(!mem.is_holding());
}

fn background_injectors_run_inside_a_scenario() -> Result<(), BoxError> {
    runtime().block_on(background_injectors())
}

async fn background_injectors() -> Result<(), BoxError> {
    let scenario = Scenario::builder("pressure")
        .target(chaoskit::target("t", ()))
        .step("s", |_, _| async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<_, BoxError>(())
        })
        .inject("cpu", inject::cpu(1, 0.5))
        .inject("mem", inject::memory(8 << 20))
        .assert("threads", validate::no_thread_leak(0))
        .repeat(20)
        .build()?;
    let report = chaoskit::run(scenario).await?;
    assert!(report.is_success(), "{}", report.to_text());
    assert!(report.lifecycle_errors.is_empty());
    Ok(())
}

fn thread_leaks_are_detected_against_the_baseline() -> Result<(), BoxError> {
    runtime().block_on(thread_leaks())
}

async fn thread_leaks() -> Result<(), BoxError> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let scenario = Scenario::builder("threads")
        .target(chaoskit::target("t", ()))
        .step("spawn", move |ctx, _| {
            let s = s2.clone();
            async move {
                if ctx.iteration() == 1 {
                    std::thread::spawn(move || {
                        while !s.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    });
                }
                Ok::<_, BoxError>(())
            }
        })
        .assert("threads", validate::no_thread_leak(0))
        .continue_on_failure()
        .thresholds(chaoskit::Thresholds::relaxed().min_success_rate(0.0))
        .repeat(3)
        .build()?;
    let report = chaoskit::run(scenario).await?;
    stop.store(true, Ordering::Relaxed);
    assert_eq!(report.iterations.failed, 2, "the leaked thread is still there after iterations 1 and 2");
    assert!(report.failures[0].error.as_deref().unwrap().contains("1 OS threads leaked"));
    Ok(())
}

/// A test of this binary: a name and a function.
type Test = (&'static str, fn() -> Result<(), BoxError>);

fn main() {
    let tests: [Test; 4] = [
        ("cpu_injector_really_burns_cpu_while_active_and_stops", || {
            cpu_injector_really_burns_cpu_while_active_and_stops();
            Ok(())
        }),
        ("memory_injector_holds_resident_memory_until_stop", || {
            memory_injector_holds_resident_memory_until_stop();
            Ok(())
        }),
        ("background_injectors_run_inside_a_scenario", background_injectors_run_inside_a_scenario),
        ("thread_leaks_are_detected_against_the_baseline", thread_leaks_are_detected_against_the_baseline),
    ];
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut failed = 0;
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        match std::panic::catch_unwind(test) {
            Ok(Ok(())) => println!("test {name} ... ok"),
            Ok(Err(e)) => {
                println!("test {name} ... FAILED: {e}");
                failed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED (panicked)");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
}

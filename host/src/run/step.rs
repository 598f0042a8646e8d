//! Running one step: catching panics, enforcing the step timeout, and running blocking
//! steps on their own thread so a step that never returns can be abandoned.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;

use crate::chaos::{self, ChaosContext};
use crate::scenario::{StepBody, StepDef};

pub(crate) enum StepOutcome {
    Ok,
    Failed(String),
    Panicked(String),
    TimedOut(Duration),
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

pub(crate) async fn run_step<T: Send + Sync + 'static>(
    step: &StepDef<T>,
    ctx: &ChaosContext,
    target: &Arc<T>,
    timeout: Option<Duration>,
) -> StepOutcome {
    match &step.body {
        StepBody::Async(f) => {
            let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| f(ctx.clone(), target.clone()))) {
                Ok(fut) => fut,
                Err(p) => return StepOutcome::Panicked(panic_message(&*p)),
            };
            let fut = chaos::scope_task(ctx.clone(), AssertUnwindSafe(fut).catch_unwind());
            let result = match timeout {
                Some(budget) => match tokio::time::timeout(budget, fut).await {
                    Ok(r) => r,
                    Err(_) => return StepOutcome::TimedOut(budget),
                },
                None => fut.await,
            };
            match result {
                Ok(Ok(())) => StepOutcome::Ok,
                Ok(Err(e)) => StepOutcome::Failed(e.to_string()),
                Err(p) => StepOutcome::Panicked(panic_message(&*p)),
            }
        }
        StepBody::Blocking(f) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let (f, ctx, target) = (f.clone(), ctx.clone(), target.clone());
            let spawned =
                std::thread::Builder::new().name(format!("chaoskit-step-{}", ctx.iteration())).spawn(move || {
                    let thread_ctx = ctx.clone();
                    let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        chaos::on_thread(thread_ctx, || f(&ctx, &target))
                    }));
                    let _ = tx.send(r);
                });
            let handle = match spawned {
                Ok(h) => h,
                Err(e) => {
                    return StepOutcome::Failed(format!("cannot start a thread for the step: {e}"));
                }
            };
            let result = match timeout {
                Some(budget) => match tokio::time::timeout(budget, rx).await {
                    Ok(r) => r,
                    // The thread cannot be killed: it is left behind (a thread-leak
                    // validator will see it) and the iteration's token is cancelled.
                    Err(_) => return StepOutcome::TimedOut(budget),
                },
                None => rx.await,
            };
            // The thread has sent its result and is about to exit.
            let _ = handle.join();
            match result {
                Ok(Ok(Ok(()))) => StepOutcome::Ok,
                Ok(Ok(Err(e))) => StepOutcome::Failed(e.to_string()),
                Ok(Err(p)) => StepOutcome::Panicked(panic_message(&*p)),
                Err(_) => StepOutcome::Failed("the step's thread ended without a result".into()),
            }
        }
    }
}

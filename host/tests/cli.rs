//! End-to-end tests of the `chaoskit-host` binary: one integration binary, a module per area.
//! Every service they talk to listens on 127.0.0.1.

#[path = "cli/formats.rs"]
mod formats;
#[path = "cli/guests.rs"]
mod guests;
#[path = "cli/html.rs"]
mod html;
#[path = "cli/interrupt.rs"]
mod interrupt;
#[path = "cli/malformed.rs"]
mod malformed;
#[path = "cli/metrics.rs"]
mod metrics;
#[path = "cli/proxy.rs"]
mod proxy;
#[path = "cli/replay.rs"]
mod replay;
#[path = "cli/run.rs"]
mod run;
#[path = "cli/shard.rs"]
mod shard;
#[path = "cli/soak.rs"]
mod soak;
#[path = "cli/trust.rs"]
mod trust;
#[path = "cli/ui.rs"]
mod ui;
#[path = "cli/util.rs"]
mod util;

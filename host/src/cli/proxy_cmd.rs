//! `chaoskit-host proxy`: the chaos proxy as a standalone server with Toxiproxy's HTTP API.

use anyhow::Context;

use super::args::ProxyArgs;
use super::exit::{ErrorKind, ExitCodes};
use super::{CliError, Kind};
use crate::proxy::{ProxyRegistry, serve};

pub(super) async fn proxy(args: ProxyArgs) -> Result<i32, CliError> {
    let registry = ProxyRegistry::builder().seed(args.seed).build();
    if let Some(path) = &args.config {
        let json =
            std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display())).kind(ErrorKind::Config)?;
        let created = registry
            .populate_json(&json)
            .await
            .with_context(|| format!("`{}`", path.display()))
            .kind(ErrorKind::Config)?;
        for p in &created {
            tracing::info!(target: "chaoskit::proxy", name = %p.name, listen = %p.listen, upstream = %p.upstream, "proxy created");
        }
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on `{}`", args.listen))
        .kind(ErrorKind::Config)?;
    let addr = listener.local_addr().context("no local address").kind(ErrorKind::Config)?;
    // The address goes to stderr so scripts can wait for it; stdout stays free.
    eprintln!("chaoskit proxy API listening on http://{addr}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, registry, shutdown).await.context("the proxy API server failed").kind(ErrorKind::Setup)?;
    Ok(ExitCodes::PASS)
}

//! `chaoskit-host proxy`: the chaos proxy as a standalone server with Toxiproxy's HTTP API.

use anyhow::Context;

use super::args::ProxyArgs;
use super::exit::{ErrorKind, ExitCodes};
use super::{CliError, Kind};
use crate::plugin::{PluginHost, PluginSpec};
use crate::proxy::{ProxyRegistry, serve};
use crate::report::escape::terminal_safe;
use std::sync::Arc;

pub(super) async fn proxy(args: ProxyArgs) -> Result<i32, CliError> {
    let mut builder = ProxyRegistry::builder().seed(args.seed);
    if !args.plugins.is_empty() {
        let host = PluginHost::new().kind(ErrorKind::PluginLoad)?;
        for path in &args.plugins {
            let toxic = host
                .load_toxic(PluginSpec::new(path).watch(args.watch))
                .map_err(|e| anyhow::anyhow!("--plugin {}: {}", path.display(), terminal_safe(&e.to_string())))
                .kind(ErrorKind::PluginLoad)?;
            eprintln!("toxic type `{}` from {} (sha256 {})", toxic.name(), path.display(), toxic.sha256());
            builder = builder.toxic_plugin(Arc::new(toxic));
        }
    }
    let registry = builder.build();
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

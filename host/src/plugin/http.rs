//! Outgoing HTTP for plugins (`wasi:http/outgoing-handler`): plain HTTP/1.1 to the hosts an
//! `http:HOST:PORT` grant allows, counted. The guest waits for a response and reads its body
//! through `wasi:io`, whose waits end at the call's deadline (`wait`); the timeouts here bound a
//! request the guest leaves running between calls, and the shorter ones a guest asks for.
//!
//! A request to any other host is refused with `HTTP-request-denied` before a connection is
//! made, and the first refusal is logged with the grant that would allow it. HTTPS is refused
//! too: this host sends plain HTTP only (tests and local services; put TLS in front with a
//! proxy if needed).

use super::wasi::Capabilities;
use crate::grant::HostPattern;
use http_body_util::BodyExt;
use hyper::http;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The `wasi:http` hooks of one instance.
pub(crate) struct HttpHooks {
    plugin: Arc<str>,
    caps: Arc<Capabilities>,
    /// Longest the connect, and then the response headers, may take when the guest asks for
    /// no shorter timeout: twice the per-call deadline, so that a wait inside a call is cut by
    /// the call's own deadline first.
    deadline: Duration,
}

impl HttpHooks {
    pub(crate) fn new(plugin: Arc<str>, caps: Arc<Capabilities>, deadline: Duration) -> Self {
        Self { plugin, caps, deadline: deadline.saturating_mul(2) }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

impl WasiHttpHooks for HttpHooks {
    fn is_supported_scheme(&mut self, scheme: &http::uri::Scheme) -> bool {
        *scheme == http::uri::Scheme::HTTP
    }

    fn default_scheme(&mut self) -> Option<http::uri::Scheme> {
        Some(http::uri::Scheme::HTTP)
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let uri = request.uri().clone();
        // An IPv6 literal comes in brackets (`[::1]`); the grant and `connect` take it bare.
        let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(80);
        let allowed = self.caps.http.iter().any(|p: &HostPattern| p.matches_name(&host, port));
        if !allowed {
            self.caps.http_refused.fetch_add(1, Ordering::Relaxed);
            let shown = crate::report::escape::terminal_safe(&format!("{host}:{port}")).into_owned();
            self.caps.refused(
                &self.plugin,
                format!(
                    "plugin `{}`: an HTTP request to `{shown}` matches no grant (add `http:{shown}` to allow it)",
                    self.plugin
                ),
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let Some(in_flight) = InFlight::take(&self.caps) else {
            let limit = self.caps.max_requests;
            self.caps.limit_hit(
                &self.plugin,
                format!(
                    "plugin `{}` sent an HTTP request with {limit} in flight, over the limit `max_requests` = {limit}",
                    self.plugin
                ),
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        };
        self.caps.http_sent.fetch_add(1, Ordering::Relaxed);
        // The guest may ask for shorter timeouts, never longer ones.
        let shorter = |asked: Option<Duration>| asked.map_or(self.deadline, |a| a.min(self.deadline));
        let options = options.unwrap_or_default();
        let (connect, first_byte) = (shorter(options.connect_timeout), shorter(options.first_byte_timeout));
        let caps = Arc::clone(&self.caps);
        Box::new(async move {
            let sent = send(request, &host, port, connect, first_byte).await;
            if matches!(sent, Err(Error::ConnectionTimeout | Error::ConnectionReadTimeout)) {
                caps.http_timed_out.fetch_add(1, Ordering::Relaxed);
            }
            // In flight until its connection ends (the body read or dropped).
            sent.map(|(response, io)| {
                let io: IoFuture = Box::new(async move {
                    let _in_flight = in_flight;
                    Box::into_pin(io).await
                });
                (response, io)
            })
        })
    }
}

/// One request counted against `max_requests` while it lives.
struct InFlight(Arc<Capabilities>);

impl InFlight {
    /// A place among the requests in flight, if there is one.
    fn take(caps: &Arc<Capabilities>) -> Option<Self> {
        caps.requests_in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < caps.max_requests).then_some(n + 1))
            .ok()
            .map(|_| InFlight(Arc::clone(caps)))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.requests_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn send(
    mut request: http::Request<WasiBody>,
    host: &str,
    port: u16,
    connect: Duration,
    first_byte: Duration,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    let stream = match tokio::time::timeout(connect, tokio::net::TcpStream::connect((host, port))).await {
        Ok(stream) => stream.map_err(Error::Connect)?,
        Err(_) => return Err(Error::ConnectionTimeout),
    };
    let (mut sender, conn) = tokio::time::timeout(
        connect,
        hyper::client::conn::http1::handshake(wasmtime_wasi_http::io::TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    // Only the path goes on the wire (the authority travels in the `host` header).
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    *request.uri_mut() = http::Uri::builder().path_and_query(path).build().map_err(|_| Error::HttpRequestUriInvalid)?;
    let connection = tokio::spawn(conn);
    let response = tokio::time::timeout(first_byte, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(Error::from)?;
    let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
    let io: IoFuture = Box::new(async move {
        match connection.await {
            Ok(result) => result.map_err(Error::from),
            Err(_) => Err(Error::ConnectionTerminated),
        }
    });
    Ok((response, io))
}

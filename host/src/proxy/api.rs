//! The Toxiproxy-compatible HTTP API: [`router`] over a [`ProxyRegistry`], [`serve`] and
//! [`ProxyServer`] to run it.
//!
//! Routes, status codes and JSON shapes follow Toxiproxy 2.12 (`GET /version`, `/proxies`,
//! `/populate`, `/proxies/{proxy}`, `/proxies/{proxy}/toxics[/{toxic}]`, `POST /reset`); errors are
//! `{"error":"<message>","status":<code>}` and a newline. Updates accept POST and PATCH.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Proxy;
use super::config::ProxyUpdate;
use super::error::ProxyError;
use super::json::first_value;
use super::server::{ProxyRegistry, ProxyView, parse_populate};
use super::toxic::{Toxic, ToxicUpdate};

/// The version `GET /version` reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Builds the API router over a registry; serve it with [`serve`], or call it with
/// `tower::ServiceExt::oneshot` in tests.
pub fn router(registry: ProxyRegistry) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/proxies", get(list_proxies).post(create_proxy))
        .route("/populate", post(populate))
        .route("/proxies/{proxy}", get(show_proxy).post(update_proxy).patch(update_proxy).delete(delete_proxy))
        .route("/proxies/{proxy}/toxics", get(list_toxics).post(create_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic).post(update_toxic).patch(update_toxic).delete(delete_toxic),
        )
        .route("/reset", post(reset))
        .fallback(not_found)
        .layer(middleware::from_fn(block_browsers))
        .with_state(registry)
}

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting requests, shuts the
/// registry down (every proxy and connection) and returns once all of it has ended.
///
/// This is what `chaoskit-host proxy --listen 127.0.0.1:8474 [--config proxies.json]` runs: bind
/// the listener, build the registry (seeded at the edge), `populate_json` the config file, then
/// `serve(listener, registry, ctrl_c)`.
pub async fn serve<F>(listener: tokio::net::TcpListener, registry: ProxyRegistry, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let result = axum::serve(listener, router(registry.clone())).with_graceful_shutdown(shutdown).await;
    registry.shutdown().await;
    result
}

/// The API server running in-process, with its registry. Dropping it stops both without waiting;
/// [`ProxyServer::shutdown`] waits until nothing it started is left running.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use chaoskit::proxy::{Client, Proxy, ProxyRegistry, ProxyServer};
/// let server = ProxyServer::start("127.0.0.1:0", ProxyRegistry::builder().seed(7).build()).await?;
/// let client = Client::new(&server.url())?;
/// client.create_proxy(&Proxy::new("db", "", "127.0.0.1:5432")).await?;
/// server.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ProxyServer {
    addr: SocketAddr,
    registry: ProxyRegistry,
    stop: CancellationToken,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl ProxyServer {
    /// Binds the API on `listen` (`host:port`; empty means `127.0.0.1:0`) and starts serving.
    pub async fn start(listen: &str, registry: ProxyRegistry) -> Result<ProxyServer, ProxyError> {
        let address = if listen.is_empty() { "127.0.0.1:0" } else { listen };
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| ProxyError::Listen { address: address.to_owned(), source })?;
        let addr =
            listener.local_addr().map_err(|source| ProxyError::Listen { address: address.to_owned(), source })?;
        let stop = CancellationToken::new();
        let signal = stop.clone();
        let task = tokio::spawn(serve(listener, registry.clone(), async move { signal.cancelled().await }));
        Ok(ProxyServer { addr, registry, stop, task: Some(task) })
    }

    /// The bound API address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for a [`Client`](super::Client), e.g. `http://127.0.0.1:8474`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The registry behind the API, for in-process control.
    pub fn registry(&self) -> &ProxyRegistry {
        &self.registry
    }

    /// Stops the API and every proxy, and waits for all of their tasks.
    pub async fn shutdown(mut self) -> io::Result<()> {
        self.stop.cancel();
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// An API error as Toxiproxy writes it.
struct ApiError(ProxyError);

impl From<ProxyError> for ApiError {
    fn from(e: ProxyError) -> Self {
        ApiError(e)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    status: u16,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let mut body = serde_json::to_vec(&ErrorBody { error: &self.0.to_string(), status }).unwrap_or_default();
        body.push(b'\n');
        let mut resp = (status_code(status), body).into_response();
        // Go's http.Error sets these, overriding the JSON content type.
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        resp
    }
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError(ProxyError::BadRequestBody(e.to_string())).into_response(),
    }
}

type ApiResult = Result<Response, ApiError>;

async fn block_browsers(req: Request, next: Next) -> Response {
    let from_browser = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("Mozilla/"));
    if from_browser {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "User agent not allowed",
        )
            .into_response();
    }
    next.run(req).await
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "404 page not found\n")
        .into_response()
}

async fn version() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        format!("{{\"version\": \"{VERSION}\"}}\n"),
    )
        .into_response()
}

async fn list_proxies(State(reg): State<ProxyRegistry>) -> ApiResult {
    Ok(json_response(StatusCode::OK, &reg.list_views().await?))
}

async fn create_proxy(State(reg): State<ProxyRegistry>, body: Bytes) -> ApiResult {
    let proxy = Proxy::from_json(&first_value(&body)?)?;
    Ok(json_response(StatusCode::CREATED, &reg.create_view(proxy).await?))
}

#[derive(Serialize)]
struct PopulateBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    proxies: Option<&'a [ProxyView]>,
}

async fn populate(State(reg): State<ProxyRegistry>, body: Bytes) -> Response {
    let failed = |e: ProxyError, done: &[ProxyView]| {
        let status = e.status();
        let message = e.to_string();
        let mut body = serde_json::to_vec(&PopulateBody {
            error: Some(&message),
            status: Some(status),
            proxies: (!done.is_empty()).then_some(done),
        })
        .unwrap_or_default();
        body.push(b'\n');
        (status_code(status), [(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    let proxies = match parse_populate(&body) {
        Ok(p) => p,
        Err(e) => return failed(e, &[]),
    };
    match reg.populate_views(proxies).await {
        Ok(done) => json_response(
            StatusCode::CREATED,
            &PopulateBody { error: None, status: None, proxies: (!done.is_empty()).then_some(&done) },
        ),
        Err((e, done)) => failed(e, &done),
    }
}

async fn show_proxy(State(reg): State<ProxyRegistry>, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(StatusCode::OK, &reg.get_view(&name).await?))
}

async fn update_proxy(State(reg): State<ProxyRegistry>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    // Toxiproxy looks the proxy up before decoding the body.
    reg.get_view(&name).await?;
    let update = ProxyUpdate::from_json(&first_value(&body)?)?;
    Ok(json_response(StatusCode::OK, &reg.update_view(&name, update).await?))
}

async fn delete_proxy(State(reg): State<ProxyRegistry>, Path(name): Path<String>) -> ApiResult {
    reg.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_toxics(State(reg): State<ProxyRegistry>, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(StatusCode::OK, &reg.toxic_views(&name).await?))
}

async fn create_toxic(State(reg): State<ProxyRegistry>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    reg.get_view(&name).await?;
    let (toxic, label) = Toxic::from_json(&first_value(&body)?)?;
    let view = reg.add_toxic_view(&name, toxic, label).await?;
    Ok(json_response(StatusCode::OK, &view))
}

async fn show_toxic(State(reg): State<ProxyRegistry>, Path((proxy, toxic)): Path<(String, String)>) -> ApiResult {
    Ok(json_response(StatusCode::OK, &reg.toxic_view(&proxy, &toxic).await?))
}

async fn update_toxic(
    State(reg): State<ProxyRegistry>,
    Path((proxy, toxic)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    reg.toxic_view(&proxy, &toxic).await?;
    let update = ToxicUpdate::from_json(&first_value(&body)?)?;
    Ok(json_response(StatusCode::OK, &reg.update_toxic_view(&proxy, &toxic, update).await?))
}

async fn delete_toxic(State(reg): State<ProxyRegistry>, Path((proxy, toxic)): Path<(String, String)>) -> ApiResult {
    reg.remove_toxic(&proxy, &toxic).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn reset(State(reg): State<ProxyRegistry>) -> ApiResult {
    reg.reset().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

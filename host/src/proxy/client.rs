//! A typed client for any Toxiproxy-compatible API server: ours or Shopify's.

use std::collections::BTreeMap;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::config::{Proxy, ProxyUpdate};
use super::error::ClientError;
use super::toxic::{Toxic, ToxicUpdate};

/// How long the client waits for a connection to the server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the client waits for a whole answer once connected.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer the client reads (a `/proxies` listing of 256 proxies with 64 toxics
/// each is well under 1 MiB).
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;
/// The most of a server's error text kept in [`ClientError::Status`].
const MAX_ERROR_TEXT: usize = 512;

/// Talks to a Toxiproxy-compatible API over plain HTTP/1.1, one connection per request.
/// Every request is bounded (connect and response timeouts, a response size cap): a stuck
/// or hostile server fails the request with [`ClientError::Bounded`], it never hangs a run.
///
/// ```no_run
/// # async fn demo() -> Result<(), chaoskit::proxy::ClientError> {
/// use chaoskit::proxy::{Client, Proxy, Stream, Toxic, ToxicKind};
/// let client = Client::new("http://127.0.0.1:8474")?;
/// let db = client.create_proxy(&Proxy::new("db", "127.0.0.1:0", "127.0.0.1:5432")).await?;
/// client
///     .add_toxic("db", &Toxic::new("lag", Stream::Downstream, ToxicKind::Latency { latency: 100, jitter: 0 }))
///     .await?;
/// println!("{} now answers 100 ms late", db.listen);
/// client.reset().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    authority: String,
    base: String,
    connect_timeout: Duration,
    response_timeout: Duration,
}

impl Client {
    /// A client for the server at `url`, e.g. `http://127.0.0.1:8474` (http only; no path).
    pub fn new(url: &str) -> Result<Client, ClientError> {
        let invalid = |reason| ClientError::InvalidUrl { url: url.to_owned(), reason };
        let rest = url.strip_prefix("http://").ok_or_else(|| invalid("only `http://host:port` urls are supported"))?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(invalid("expected `http://host:port` without a path"));
        }
        let authority = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Client {
            base: format!("http://{authority}"),
            authority,
            connect_timeout: CONNECT_TIMEOUT,
            response_timeout: RESPONSE_TIMEOUT,
        })
    }

    /// The same client with other bounds than [`CONNECT_TIMEOUT`] and [`RESPONSE_TIMEOUT`].
    pub fn timeouts(mut self, connect: Duration, response: Duration) -> Client {
        self.connect_timeout = connect;
        self.response_timeout = response;
        self
    }

    /// The server's version string.
    pub async fn version(&self) -> Result<String, ClientError> {
        let v: Value = self.call(Method::GET, "/version", None).await?;
        Ok(v.get("version").and_then(Value::as_str).unwrap_or_default().to_owned())
    }

    /// Every proxy, by name.
    pub async fn proxies(&self) -> Result<BTreeMap<String, Proxy>, ClientError> {
        self.call(Method::GET, "/proxies", None).await
    }

    /// Creates a proxy; the answer carries the bound `listen` address.
    pub async fn create_proxy(&self, proxy: &Proxy) -> Result<Proxy, ClientError> {
        #[derive(Serialize)]
        struct Create<'a> {
            name: &'a str,
            listen: &'a str,
            upstream: &'a str,
            enabled: bool,
        }
        let body =
            Create { name: &proxy.name, listen: &proxy.listen, upstream: &proxy.upstream, enabled: proxy.enabled };
        self.call(Method::POST, "/proxies", Some(to_json(&body))).await
    }

    /// One proxy.
    pub async fn proxy(&self, name: &str) -> Result<Proxy, ClientError> {
        self.call(Method::GET, &format!("/proxies/{}", escape(name)), None).await
    }

    /// Changes a proxy's listen, upstream or enabled state.
    pub async fn update_proxy(&self, name: &str, update: &ProxyUpdate) -> Result<Proxy, ClientError> {
        let path = format!("/proxies/{}", escape(name));
        self.call(Method::POST, &path, Some(to_json(update))).await
    }

    /// Enables a proxy (it listens again).
    pub async fn enable(&self, name: &str) -> Result<Proxy, ClientError> {
        self.update_proxy(name, &ProxyUpdate::new().enabled(true)).await
    }

    /// Disables a proxy: its listener closes and so do all its connections.
    pub async fn disable(&self, name: &str) -> Result<Proxy, ClientError> {
        self.update_proxy(name, &ProxyUpdate::new().enabled(false)).await
    }

    /// Deletes a proxy.
    pub async fn delete_proxy(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/proxies/{}", escape(name));
        self.call_empty(Method::DELETE, &path, None).await
    }

    /// Creates or replaces proxies in one call (see [`ProxyRegistry::populate`](super::ProxyRegistry::populate)).
    /// The answer lists each of `proxies`, or the call fails naming the one it lacks.
    pub async fn populate(&self, proxies: &[Proxy]) -> Result<Vec<Proxy>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Populated {
            proxies: Option<Vec<Proxy>>,
        }
        let p: Populated = self.call(Method::POST, "/populate", Some(to_json(&proxies))).await?;
        let answered = p.proxies.unwrap_or_default();
        proxies
            .iter()
            .map(|asked| {
                answered.iter().find(|a| a.name == asked.name).cloned().ok_or_else(|| ClientError::Decode {
                    url: format!("{}/populate", self.base),
                    message: format!("the answer does not list proxy `{}`", asked.name),
                })
            })
            .collect()
    }

    /// A proxy's toxics.
    pub async fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, ClientError> {
        self.call(Method::GET, &format!("/proxies/{}/toxics", escape(proxy)), None).await
    }

    /// Adds a toxic to a proxy.
    pub async fn add_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<Toxic, ClientError> {
        let path = format!("/proxies/{}/toxics", escape(proxy));
        self.call(Method::POST, &path, Some(to_json(toxic))).await
    }

    /// One toxic of a proxy.
    pub async fn toxic(&self, proxy: &str, name: &str) -> Result<Toxic, ClientError> {
        let path = format!("/proxies/{}/toxics/{}", escape(proxy), escape(name));
        self.call(Method::GET, &path, None).await
    }

    /// Changes a toxic's toxicity or attributes (merged into the current ones).
    pub async fn update_toxic(&self, proxy: &str, name: &str, update: &ToxicUpdate) -> Result<Toxic, ClientError> {
        let path = format!("/proxies/{}/toxics/{}", escape(proxy), escape(name));
        self.call(Method::POST, &path, Some(to_json(update))).await
    }

    /// Removes a toxic.
    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), ClientError> {
        let path = format!("/proxies/{}/toxics/{}", escape(proxy), escape(name));
        self.call_empty(Method::DELETE, &path, None).await
    }

    /// Enables every proxy and removes every toxic.
    pub async fn reset(&self) -> Result<(), ClientError> {
        self.call_empty(Method::POST, "/reset", Some(b"{}".to_vec())).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let (url, bytes) = self.exchange(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode { url, message: e.to_string() })
    }

    async fn call_empty(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<(), ClientError> {
        self.exchange(method, path, body).await.map(drop)
    }

    /// One request on a fresh connection; non-2xx answers become [`ClientError::Status`].
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(String, Bytes), ClientError> {
        let url = format!("{}{}", self.base, path);
        let http = |e: hyper::Error| ClientError::Http { url: url.clone(), message: e.to_string() };
        let bounded = |reason: String| ClientError::Bounded { url: url.clone(), reason };
        let stream = tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect(&self.authority))
            .await
            .map_err(|_| bounded(format!("no connection within {:?}", self.connect_timeout)))?
            .map_err(|source| ClientError::Io { url: url.clone(), source })?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(http)?;
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::USER_AGENT, concat!("chaoskit/", env!("CARGO_PKG_VERSION")));
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Http { url: url.clone(), message: e.to_string() })?;
        let exchange = async move {
            let response = sender.send_request(request).await.map_err(|e| Err(e.to_string()))?;
            let status = response.status();
            // Read at most the cap: a longer body is refused, not buffered.
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES).collect().await.map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Ok(format!("the answer is larger than {MAX_RESPONSE_BYTES} bytes"))
                } else {
                    Err(e.to_string())
                }
            })?;
            Ok::<_, Result<String, String>>((status, body.to_bytes()))
        };
        // The connection future ends once the exchange has dropped its sender.
        let both = async { tokio::join!(conn, exchange) };
        let (conn_result, result) = tokio::time::timeout(self.response_timeout, both)
            .await
            .map_err(|_| bounded(format!("no whole answer within {:?}", self.response_timeout)))?;
        let (status, bytes) = result.map_err(|e| match e {
            Ok(bound) => bounded(bound),
            Err(message) => ClientError::Http { url: url.clone(), message },
        })?;
        conn_result.map_err(http)?;
        if !status.is_success() {
            let mut message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
            if message.len() > MAX_ERROR_TEXT {
                message.truncate(message.floor_char_boundary(MAX_ERROR_TEXT));
                message.push('…');
            }
            return Err(ClientError::Status { status: status.as_u16(), message });
        }
        Ok((url, bytes))
    }
}

fn to_json<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    // Our request types are plain structs and maps: serialization cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// Percent-encodes a path segment.
fn escape(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_plain_http() {
        assert!(Client::new("http://127.0.0.1:8474").is_ok());
        assert!(Client::new("http://127.0.0.1:8474/").is_ok());
        assert_eq!(Client::new("http://localhost").unwrap().authority, "localhost:80");
        let e = Client::new("https://x:1").unwrap_err();
        assert_eq!(e.to_string(), "invalid server url `https://x:1`: only `http://host:port` urls are supported");
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(escape("a b/c"), "a%20b%2Fc");
    }
}

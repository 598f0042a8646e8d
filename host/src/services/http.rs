//! A minimal HTTP/1.1 client over hyper: one fresh connection per request, no TLS.
//!
//! Each request opens its own connection and drives it in the calling task, so nothing
//! outlives the request (a task-leak validator stays meaningful) and every iteration meets
//! the service as a new client would.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A parsed `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host name or address.
    pub host: String,
    /// Port (default 80).
    pub port: u16,
    /// Path and query (default `/`).
    pub path: String,
}

/// Parses `http://host[:port][/path]`; refuses other schemes.
pub fn parse_url(url: &str) -> Result<HttpUrl, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("invalid URL `{url}`: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!("`{url}`: https is not supported (this host has no TLS); use http://"));
        }
        _ => return Err(format!("`{url}`: expected an http:// URL")),
    }
    let host = uri.host().ok_or_else(|| format!("`{url}`: no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let path = uri.path_and_query().map_or("/".to_string(), |p| p.as_str().to_string());
    Ok(HttpUrl { host, port: uri.port_u16().unwrap_or(80), path: if path.is_empty() { "/".into() } else { path } })
}

/// What came back.
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

/// The most of a response body a step keeps to look for its expected text.
pub const MAX_KEPT_BODY_BYTES: usize = 16 << 20;

/// What to do with the response body.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Body {
    /// Read it to the end (the exchange is complete) without keeping it.
    Discard,
    /// Keep it; a body longer than this many bytes fails the request.
    Keep(usize),
}

/// Sends one request and reads the whole response, within `timeout`; the body is kept only
/// as `keep` says, so memory stays bounded whatever the server sends.
pub(crate) async fn send(
    url: &HttpUrl,
    method: &str,
    headers: &[(String, String)],
    body: Option<&str>,
    timeout: Duration,
    keep: Body,
) -> Result<HttpResponse, String> {
    let exchange = async {
        let stream = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| format!("cannot connect to {}:{}: {e}", url.host, url.port))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake failed: {e}"))?;
        let authority = if url.port == 80 { url.host.clone() } else { format!("{}:{}", url.host, url.port) };
        let mut request =
            Request::builder().method(method).uri(url.path.as_str()).header(hyper::header::HOST, authority);
        for (k, v) in headers {
            request = request.header(k.as_str(), v.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
            .map_err(|e| format!("invalid request: {e}"))?;
        let exchange = async move {
            let response = sender.send_request(request).await.map_err(|e| format!("request failed: {e}"))?;
            let status = response.status().as_u16();
            let mut incoming = response.into_body();
            let mut kept = Vec::new();
            while let Some(frame) = incoming.frame().await {
                let frame = frame.map_err(|e| format!("reading the body failed: {e}"))?;
                let (Ok(data), Body::Keep(max)) = (frame.into_data(), keep) else { continue };
                if kept.len() + data.len() > max {
                    return Err(format!("the response body is larger than {max} bytes, the most a step keeps"));
                }
                kept.extend_from_slice(&data);
            }
            drop(sender);
            Ok::<_, String>(HttpResponse { status, body: Bytes::from(kept) })
        };
        // The connection is driven here, not spawned: once the sender is dropped it ends.
        let (result, _) = tokio::join!(exchange, conn);
        result
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(format!("no complete response within {}", crate::spec::units::format_duration(timeout))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults_and_refuse_https() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/a?b=1"),
            Ok(HttpUrl { host: "127.0.0.1".into(), port: 8080, path: "/a?b=1".into() })
        );
        assert_eq!(parse_url("http://localhost"), Ok(HttpUrl { host: "localhost".into(), port: 80, path: "/".into() }));
        assert_eq!(
            parse_url("https://example.com/"),
            Err("`https://example.com/`: https is not supported (this host has no TLS); use http://".to_string())
        );
        assert!(parse_url("ftp://x/").is_err());
    }
}

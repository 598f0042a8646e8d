//! Errors of the proxy registry, its HTTP API and the client.

use std::io;

/// What went wrong in a registry or API operation.
///
/// Every variant maps to the HTTP status Toxiproxy uses for it ([`ProxyError::status`]); the messages of
/// the variants Toxiproxy also has are kept word for word, so clients that match on them keep working.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The request body is not valid JSON of the expected shape (400).
    #[error("bad request body: {0}")]
    BadRequestBody(String),
    /// A required field is missing or empty (400).
    #[error("missing required field: {0}")]
    MissingField(&'static str),
    /// The toxic `type` is not one this server knows (400).
    #[error("invalid toxic type")]
    InvalidToxicType(String),
    /// The toxic `stream` is neither `upstream` nor `downstream` (400).
    #[error("stream was invalid, can be either upstream or downstream")]
    InvalidStream(String),
    /// A toxic attribute is out of range (400); Toxiproxy accepts these and then stalls or crashes.
    #[error("invalid attribute `{attribute}` of toxic type `{toxic_type}`: {reason}")]
    InvalidAttribute {
        /// The toxic type, e.g. `bandwidth`.
        toxic_type: String,
        /// The attribute name, e.g. `rate`.
        attribute: &'static str,
        /// Why the value was refused, with the valid range.
        reason: String,
    },
    /// A plugin toxic refused its attributes (400); the message is the plugin's, made safe to
    /// print.
    #[error("invalid attributes for toxic type `{toxic_type}`: {message}")]
    PluginRefused {
        /// The toxic type (the plugin's name).
        toxic_type: String,
        /// The plugin's reason.
        message: String,
    },
    /// The toxicity is not a probability (400).
    #[error("invalid toxicity `{0}`: must be a number between 0 and 1")]
    InvalidToxicity(f64),
    /// No proxy has that name (404).
    #[error("proxy not found")]
    ProxyNotFound,
    /// The proxy has no toxic of that name (404).
    #[error("toxic not found")]
    ToxicNotFound,
    /// A proxy of that name already exists (409).
    #[error("proxy already exists")]
    ProxyExists,
    /// A toxic of that name already exists on the proxy, in either direction (409).
    #[error("toxic already exists")]
    ToxicExists,
    /// A listen address could not be parsed or resolved (500).
    #[error("address {address}: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Binding a proxy's listener failed (500).
    #[error("listen tcp {address}: {source}")]
    Listen {
        /// The address that could not be bound.
        address: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// An entry of a populate request failed; `index` is 1-based like Toxiproxy's messages.
    #[error("{source} at proxy {index}")]
    AtProxy {
        /// 1-based position of the entry in the request.
        index: usize,
        /// What went wrong with it.
        #[source]
        source: Box<ProxyError>,
    },
    /// The registry already runs [`MAX_PROXIES`](super::MAX_PROXIES) proxies (409).
    #[error("too many proxies: a server runs at most {limit}; delete one first")]
    TooManyProxies {
        /// The cap.
        limit: usize,
    },
    /// The direction already has [`MAX_TOXICS`](super::MAX_TOXICS) toxics (409).
    #[error("too many toxics: a proxy has at most {limit} on its {stream} stream; delete one first")]
    TooManyToxics {
        /// The direction that is full.
        stream: super::Stream,
        /// The cap.
        limit: usize,
    },
    /// The registry has been shut down and accepts no more changes (503).
    #[error("proxy registry is shut down")]
    ShutDown,
}

impl ProxyError {
    /// The HTTP status code Toxiproxy returns for this error.
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::BadRequestBody(_)
            | ProxyError::MissingField(_)
            | ProxyError::InvalidToxicType(_)
            | ProxyError::InvalidStream(_)
            | ProxyError::InvalidAttribute { .. }
            | ProxyError::PluginRefused { .. }
            | ProxyError::InvalidToxicity(_) => 400,
            ProxyError::ProxyNotFound | ProxyError::ToxicNotFound => 404,
            ProxyError::ProxyExists
            | ProxyError::ToxicExists
            | ProxyError::TooManyProxies { .. }
            | ProxyError::TooManyToxics { .. } => 409,
            ProxyError::InvalidAddress { .. } | ProxyError::Listen { .. } => 500,
            ProxyError::AtProxy { source, .. } => source.status(),
            ProxyError::ShutDown => 503,
        }
    }
}

/// A failed `populate`: the error, and the proxies that were created or kept before it happened.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
#[non_exhaustive]
pub struct PopulateError {
    /// What stopped the populate.
    #[source]
    pub error: ProxyError,
    /// The proxies applied before the failing entry; they stay in place.
    pub proxies: Vec<super::Proxy>,
}

/// What went wrong talking to a Toxiproxy-compatible API server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The base URL is not of the form `http://host:port`.
    #[error("invalid server url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The server answered with a non-success status; `message` is its `error` field when it sent one.
    #[error("server answered {status}: {message}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The server's error message, or the raw body when it was not a Toxiproxy error object.
        message: String,
    },
    /// Connecting or talking to the server failed.
    #[error("request to `{url}` failed: {source}")]
    Io {
        /// The URL of the request.
        url: String,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The HTTP exchange itself failed.
    #[error("http exchange with `{url}` failed: {message}")]
    Http {
        /// The URL of the request.
        url: String,
        /// The HTTP library's message.
        message: String,
    },
    /// The server did not answer within the client's bounds: no connection within
    /// [`CONNECT_TIMEOUT`](super::CONNECT_TIMEOUT), no whole answer within
    /// [`RESPONSE_TIMEOUT`](super::RESPONSE_TIMEOUT), or one larger than
    /// [`MAX_RESPONSE_BYTES`](super::MAX_RESPONSE_BYTES).
    #[error("request to `{url}` abandoned: {reason}")]
    Bounded {
        /// The URL of the request.
        url: String,
        /// Which bound was reached.
        reason: String,
    },
    /// The response body was not the JSON we expected.
    #[error("unexpected response body from `{url}`: {message}")]
    Decode {
        /// The URL of the request.
        url: String,
        /// What did not parse.
        message: String,
    },
}

impl ClientError {
    /// The HTTP status when the server answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}
